import CCohortClient
import Foundation

/// The app's trainer: trains on data that never leaves the device. Called on the thread that
/// runs `runOnce()`.
public protocol Trainer: AnyObject {
    /// Returns the trained parameters (same count), the local example count and the loss.
    func train(parameters: UnsafeBufferPointer<Float>, epochs: Int, batchSize: Int,
               learningRate: Double, round: Int64) throws -> (parameters: [Float], examples: Int64, loss: Double)
}

public struct CohortError: Error {
    public let code: cohort_status
    public let message: String
}

public enum Outcome {
    case contributed(round: Int64, newModelVersion: Int64)
    case roundFailed(reason: String)
    case dropped(reason: String)
    case retryLater(at: Date)
}

/// Wraps an opaque `cohort_client*`. `runOnce()` blocks: call it from a background task.
/// `cancel()` is safe from any thread.
public final class CohortClient {
    private var handle: OpaquePointer?
    private let context: Context

    /// Keeps what the C callbacks need alive for the client's lifetime.
    private final class Context {
        let trainer: Trainer
        let deviceId: UnsafeMutablePointer<CChar>  // stable C string for the SDK's callback
        init(trainer: Trainer, deviceId: String) {
            self.trainer = trainer
            self.deviceId = strdup(deviceId)
        }
        deinit { free(deviceId) }
    }

    public init(serverAddress: String, tlsRootCertsPEM: String, population: String,
                storageDirectory: URL, deviceId: String, trainer: Trainer) throws {
        context = Context(trainer: trainer, deviceId: deviceId)
        let userData = Unmanaged.passUnretained(context).toOpaque()
        var config = cohort_config()
        cohort_config_init(&config)
        config.device_id = { userData in
            let context = Unmanaged<Context>.fromOpaque(userData!).takeUnretainedValue()
            return UnsafePointer(context.deviceId)
        }
        config.user_data = userData
        var cTrainer = cohort_trainer()
        cTrainer.user_data = userData
        cTrainer.train = { userData, _, _, parameters, count, params, out, examples, loss, message, capacity in
            let context = Unmanaged<Context>.fromOpaque(userData!).takeUnretainedValue()
            do {
                let result = try context.trainer.train(
                    parameters: UnsafeBufferPointer(start: parameters, count: count),
                    epochs: Int(params!.pointee.local_epochs), batchSize: Int(params!.pointee.batch_size),
                    learningRate: params!.pointee.learning_rate, round: params!.pointee.round_number)
                guard result.parameters.count == count else { return COHORT_INVALID_ARGUMENT }
                result.parameters.withUnsafeBufferPointer { out!.update(from: $0.baseAddress!, count: count) }
                examples!.pointee = result.examples
                loss!.pointee = result.loss
                return COHORT_OK
            } catch {
                _ = "\(error)".withCString { strncpy(message!, $0, capacity - 1) }
                return COHORT_INTERNAL
            }
        }
        var client: OpaquePointer?
        // The C ABI copies every string before returning.
        let status = serverAddress.withCString { address in
            tlsRootCertsPEM.withCString { roots in
                population.withCString { population in
                    storageDirectory.path.withCString { dir -> cohort_status in
                        config.server_address = address
                        config.tls_root_certs_pem = roots
                        config.population = population
                        config.storage_dir = dir
                        return cohort_client_create(&config, &cTrainer, &client)
                    }
                }
            }
        }
        guard status == COHORT_OK else { throw CohortClient.lastError(status) }
        handle = client
    }

    deinit { cohort_client_destroy(handle) }

    public func setEligibility(charging: Bool, unmetered: Bool, idle: Bool, batteryPercent: Int) {
        var e = cohort_eligibility(charging: charging ? 1 : 0, unmetered_network: unmetered ? 1 : 0,
                                   idle: idle ? 1 : 0, battery_percent: Int32(batteryPercent))
        _ = cohort_client_set_eligibility(handle, &e)
    }

    public func runOnce() throws -> Outcome {
        var o = cohort_outcome()
        let status = cohort_client_run_once(handle, &o)
        guard status == COHORT_OK else { throw CohortClient.lastError(status) }
        let reason = withUnsafeBytes(of: &o.reason) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        switch o.kind {
        case COHORT_OUTCOME_CONTRIBUTED:
            return .contributed(round: o.round_number, newModelVersion: o.new_model_version)
        case COHORT_OUTCOME_ROUND_FAILED: return .roundFailed(reason: reason)
        case COHORT_OUTCOME_RETRY_LATER:
            return .retryLater(at: Date(timeIntervalSince1970: Double(o.retry_at_unix_millis) / 1000))
        default: return .dropped(reason: reason)
        }
    }

    public func cancel() { cohort_client_cancel(handle) }

    private static func lastError(_ status: cohort_status) -> CohortError {
        CohortError(code: status, message: String(cString: cohort_last_error_message()))
    }
}
