#include "sim/traffic_counter.h"

#include <mutex>
#include <string_view>

#include "cohort/v1/device.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/client_interceptor.h"
#include "grpcpp/support/interceptor.h"

namespace cohort::sim {
namespace {

std::atomic<int64_t> g_up{0};
std::atomic<int64_t> g_down{0};
std::atomic<int64_t> g_check_in_up{0};
std::atomic<int64_t> g_check_in_down{0};

constexpr std::string_view kPrefix = "/cohort.v1.DeviceService/";

// The response's size. gRPC hands the interceptor an untyped pointer to the deserialized message;
// it is cast back to the method's response type, which the method name determines.
int64_t ResponseBytes(std::string_view method, void* message) {
  if (message == nullptr) return 0;
  using namespace cohort::v1;  // NOLINT: a table of this service's response types
  if (method == "CheckIn") return static_cast<CheckInResponse*>(message)->ByteSizeLong();
  if (method == "WaitForPhase") return static_cast<RoundUpdate*>(message)->ByteSizeLong();
  if (method == "DownloadModel") return static_cast<ModelChunk*>(message)->ByteSizeLong();
  if (method == "AdvertiseKeys") return static_cast<AdvertiseKeysResponse*>(message)->ByteSizeLong();
  if (method == "ShareKeys") return static_cast<ShareKeysResponse*>(message)->ByteSizeLong();
  if (method == "UploadMaskedInput") {
    return static_cast<UploadMaskedInputResponse*>(message)->ByteSizeLong();
  }
  if (method == "SubmitUnmasking") {
    return static_cast<SubmitUnmaskingResponse*>(message)->ByteSizeLong();
  }
  if (method == "Leave") return static_cast<LeaveResponse*>(message)->ByteSizeLong();
  return 0;
}

class CountingInterceptor : public grpc::experimental::Interceptor {
 public:
  CountingInterceptor(std::string_view method, bool count) : method_(method), count_(count) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (!count_) {
      methods->Proceed();
      return;
    }
    const bool check_in = method_ == "CheckIn";
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      // Serializing here costs nothing extra: gRPC sends the buffer we make.
      const grpc::ByteBuffer* buffer = methods->GetSerializedSendMessage();
      const auto bytes = static_cast<int64_t>(buffer == nullptr ? 0 : buffer->Length());
      (check_in ? g_check_in_up : g_up).fetch_add(bytes, std::memory_order_relaxed);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      const int64_t bytes = ResponseBytes(method_, methods->GetRecvMessage());
      (check_in ? g_check_in_down : g_down).fetch_add(bytes, std::memory_order_relaxed);
    }
    methods->Proceed();
  }

 private:
  std::string_view method_;
  bool count_;
};

class Factory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    const std::string_view method = info->method() == nullptr ? "" : info->method();
    // gRPC 1.51 installs whatever the global factory returns without a null check, so calls of
    // other services get an interceptor too, one that counts nothing.
    if (method.substr(0, kPrefix.size()) != kPrefix) return new CountingInterceptor("", false);
    return new CountingInterceptor(method.substr(kPrefix.size()), true);
  }
};

}  // namespace

void InstallDeviceTrafficCounter() {
  static std::once_flag once;
  std::call_once(once, [] {
    // gRPC keeps the pointer for the life of the process.
    grpc::experimental::RegisterGlobalClientInterceptorFactory(new Factory());
  });
}

TrafficTotals DeviceTraffic() {
  TrafficTotals t;
  t.up = g_up.load(std::memory_order_relaxed);
  t.down = g_down.load(std::memory_order_relaxed);
  t.check_in_up = g_check_in_up.load(std::memory_order_relaxed);
  t.check_in_down = g_check_in_down.load(std::memory_order_relaxed);
  return t;
}

}  // namespace cohort::sim
