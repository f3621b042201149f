import CCohortClient
import Foundation

/// Which engine runs the model (`cohort_inference_engine`).
public enum InferenceEngine {
    case xnnpack         // FLOAT32 and INT8 artifacts
    case eigenReference  // FLOAT32 only: the training forward pass, for checking
}

public enum InferenceFormat {
    case float32
    case int8
}

public struct InferenceModelInfo {
    public let taskId: String
    public let modelVersion: Int64
    public let format: InferenceFormat
    /// One example: [features] or [channels, height, width].
    public let inputShape: [Int64]
    public let inputSize: Int
    public let outputSize: Int
}

/// The global model on the device: an inference artifact (FLOAT32 or INT8) run by the SDK's
/// engine through the C ABI (`cohort_inference_model_*`). `init` throws a `CohortError` for a
/// damaged artifact or a model the engine cannot run (the message names the layer); `predict`
/// is safe from several threads at once.
///
///     let model = try InferenceModel(artifact: data)
///     let probabilities = try model.predict(pixels)   // 784 floats in, 10 out
public final class InferenceModel {
    private let handle: OpaquePointer
    public let info: InferenceModelInfo

    public init(artifact: Data, engine: InferenceEngine = .xnnpack, numThreads: Int = 1,
                maxConcurrency: Int = 4) throws {
        var options = cohort_inference_options()
        cohort_inference_options_init(&options)
        options.engine = engine == .xnnpack ? COHORT_INFERENCE_ENGINE_XNNPACK
                                            : COHORT_INFERENCE_ENGINE_EIGEN_REFERENCE
        options.num_threads = Int32(numThreads)
        options.max_concurrency = Int32(maxConcurrency)
        var model: OpaquePointer?
        // The C ABI parses the bytes before returning and keeps no pointer to them.
        let status = artifact.withUnsafeBytes { bytes in
            cohort_inference_model_load(bytes.baseAddress, bytes.count, &options, &model)
        }
        guard status == COHORT_OK, let loaded = model else {
            throw CohortError(code: status, message: String(cString: cohort_last_error_message()))
        }
        var c = cohort_inference_info()
        let infoStatus = cohort_inference_model_info(loaded, &c)
        guard infoStatus == COHORT_OK else {
            cohort_inference_model_free(loaded)
            throw CohortError(code: infoStatus, message: String(cString: cohort_last_error_message()))
        }
        handle = loaded
        let shape = withUnsafeBytes(of: &c.input_shape) { Array($0.bindMemory(to: Int64.self)) }
        let taskId = withUnsafeBytes(of: &c.task_id) {
            String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
        }
        info = InferenceModelInfo(taskId: taskId, modelVersion: c.model_version,
                                  format: c.format == COHORT_INFERENCE_FORMAT_INT8 ? .int8 : .float32,
                                  inputShape: Array(shape.prefix(Int(c.input_rank))),
                                  inputSize: Int(c.input_size), outputSize: Int(c.output_size))
    }

    deinit { cohort_inference_model_free(handle) }

    /// `inputs` holds `batch` examples (batch * inputSize floats, images row-major C, H, W);
    /// returns batch * outputSize floats.
    public func predict(_ inputs: [Float], batch: Int = 1) throws -> [Float] {
        var outputs = [Float](repeating: 0, count: max(batch, 0) * info.outputSize)
        let count = outputs.count
        let status = inputs.withUnsafeBufferPointer { input in
            outputs.withUnsafeMutableBufferPointer { output in
                cohort_inference_model_predict(handle, input.baseAddress, input.count, Int64(batch),
                                               output.baseAddress, count)
            }
        }
        guard status == COHORT_OK else {
            throw CohortError(code: status, message: String(cString: cohort_last_error_message()))
        }
        return outputs
    }
}
