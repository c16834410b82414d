// Health that reflects a service's dependencies: a thread checks each
// dependency every `interval` -- another service's gRPC health
// (grpc.health.v1, for the service name this one calls) or an in-process
// check (storage's database) -- and reports the service NOT_SERVING while
// any of them is unreachable or not serving (e.g. the executor while storage
// is down), so that probes and load balancers see it. A dependency is down after one
// failed check (each check waits at most `timeout`); it is up again after
// one that succeeds.
#ifndef TASKER_SERVICES_COMMON_DEPENDENCY_HEALTH_H_
#define TASKER_SERVICES_COMMON_DEPENDENCY_HEALTH_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace tasker::services {

class DependencyHealth {
 public:
  struct Dependency {
    std::string name;  // e.g. "storage"
    std::shared_ptr<grpc::Channel> channel;
    // The health service name asked on `channel`: the full name of the
    // service called ("tasker.v1.Storage"); "" for the whole server.
    std::string service;
    // Instead of `channel`: up while this returns OK (called with no lock
    // held, at most once per interval).
    std::function<absl::Status()> check;
  };
  // Called from the checking thread when the overall state changes (and once
  // after the first round): serving, and the names of the dependencies down.
  using OnChange = std::function<void(bool serving, const std::vector<std::string>& down)>;

  DependencyHealth(std::vector<Dependency> dependencies, OnChange on_change,
                   absl::Duration interval = absl::Seconds(1), absl::Duration timeout = absl::Milliseconds(800));
  ~DependencyHealth();

  void Start();
  void Stop();
  // One round of checks now (also used by the thread); returns the names of
  // the dependencies down. Each change of a dependency is logged with why.
  std::vector<std::string> CheckOnce();
  bool serving() const { return serving_; }

 private:
  std::vector<Dependency> dependencies_;
  OnChange on_change_;
  absl::Duration interval_;
  absl::Duration timeout_;
  std::atomic<bool> serving_{true};
  bool reported_ = false;
  std::vector<bool> down_;  // per dependency, as last checked
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_COMMON_DEPENDENCY_HEALTH_H_
