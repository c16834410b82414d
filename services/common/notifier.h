// Push notifications between executors and processors. Every push is best
// effort: a lost one is not an error, because storage has the work and the
// receiving side's sweeper (or a lease expiry) picks it up.
//
// The hot path of a warm run uses two pushes: DispatchCalls (executor →
// processor, the recorded calls with their dispatch leases) and
// DeliverResult (processor → the executor holding the run, its reply_to).
// Both are asynchronous: the caller never waits for the peer (nor does
// NotifyResume), and both
// coalesce: to each peer at most one push of a kind is on the wire; what is
// pushed meanwhile leaves together in the next one. A lone push goes at once;
// under load one RPC carries many calls or results.
#ifndef TASKER_SERVICES_COMMON_NOTIFIER_H_
#define TASKER_SERVICES_COMMON_NOTIFIER_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "runtime/client/channel.h"
#include "runtime/common/metrics.h"
#include "tasker/v1/executor.grpc.pb.h"
#include "tasker/v1/stack_processor.grpc.pb.h"

namespace tasker::services {

// Every push is fire-and-forget: no caller waits for a peer, and what waits
// to be sent is bounded: beyond `max_queued` items queued to one peer, new
// pushes to it are dropped (counted in dropped()).
struct NotifierOptions {
  int max_queued = 10000;
  // Deadline of one push. A processor that does not answer within it (frozen,
  // overloaded) is passed over for `suspect_for`, its calls left to their
  // dispatch lease.
  absl::Duration deadline = absl::Seconds(2);
  absl::Duration suspect_for = absl::Seconds(5);
  // Executors (reply_to addresses) kept with their channel; beyond, idle
  // ones are let go (addresses change as pods come and go).
  int max_executor_peers = 1024;
};

class Notifier {
 public:
  // `executors` and `processors` are gRPC targets; either list may be empty.
  // `client` carries the token and TLS of every channel (target ignored).
  Notifier(const std::vector<std::string>& executors, const std::vector<std::string>& processors,
           const ClientConfig& client, NotifierOptions options = {});
  virtual ~Notifier();

  // Hands calls already leased for dispatch to a processor (round-robin;
  // another one is tried when the first cannot be reached).
  virtual void DispatchCalls(const std::vector<tasker::v1::StackRunRecord>& calls);
  // Asks an executor to claim an evicted root that became ready.
  void NotifyResume(const std::string& root_stack_run_id);
  // Pushes a finished call to the executor at `reply_to`.
  virtual void DeliverResult(const std::string& reply_to, const tasker::v1::StackRunRecord& call);
  // Waits until no asynchronous push is in flight (for shutdown and tests).
  void Flush();
  // Pushes dropped because their peer's queue was full.
  int64_t dropped() const { return dropped_; }
  // Executors kept (bounded by max_executor_peers).
  int executor_peers() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(by_target_.size());
  }

 private:
  // Pushes of one kind to one peer: at most one in flight, the rest queued
  // into the next request.
  template <typename Request>
  class Lane {
   public:
    // Adds to the lane what `fill` puts in a request. Returns the request to
    // send now, or null when one is in flight (the additions wait for it).
    // `items` counts what `fill` adds; beyond `max_queued` queued items the
    // push is dropped (*dropped set).
    template <typename Fill>
    std::shared_ptr<Request> Push(Fill fill, int items, int max_queued, bool* dropped) {
      std::lock_guard<std::mutex> lock(mu_);
      *dropped = false;
      if (in_flight_) {
        if (queued_items_ + items > max_queued) {
          *dropped = true;
          return nullptr;
        }
        if (!queued_) queued_ = std::make_shared<Request>();
        fill(queued_.get());
        queued_items_ += items;
        return nullptr;
      }
      in_flight_ = true;
      auto request = std::make_shared<Request>();
      fill(request.get());
      return request;
    }
    // The one in flight was answered: what queued meanwhile, to send now
    // (null: the lane is idle).
    std::shared_ptr<Request> Next() {
      std::lock_guard<std::mutex> lock(mu_);
      std::shared_ptr<Request> next = std::move(queued_);
      queued_items_ = 0;
      in_flight_ = next != nullptr;
      return next;
    }

   private:
    std::mutex mu_;
    bool in_flight_ = false;
    std::shared_ptr<Request> queued_;
    int queued_items_ = 0;
  };
  struct ExecutorPeer {
    std::unique_ptr<tasker::v1::Executor::Stub> stub;
    Lane<tasker::v1::DeliverResultsRequest> results;
  };

  // Sends `request` to processor `at` now (a retry, or a lane's next batch).
  void Dispatch(std::shared_ptr<tasker::v1::NotifyCallsRequest> request, size_t at, size_t tries);
  void SendResults(std::shared_ptr<ExecutorPeer> peer, std::shared_ptr<tasker::v1::DeliverResultsRequest> request);
  std::shared_ptr<ExecutorPeer> ExecutorAt(const std::string& target);
  // The next processor to push to, round-robin, passing over suspect ones
  // (unless all are).
  size_t NextProcessor();

  NotifierOptions options_;
  ClientConfig client_;
  std::vector<std::unique_ptr<tasker::v1::Executor::Stub>> executors_;
  std::vector<std::unique_ptr<tasker::v1::StackProcessor::Stub>> processors_;
  std::vector<std::unique_ptr<Lane<tasker::v1::NotifyCallsRequest>>> dispatch_lanes_;  // one per processor
  std::atomic<uint64_t> next_{0};
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ExecutorPeer>> by_target_;
  std::atomic<int> in_flight_{0};
  std::atomic<int64_t> dropped_{0};
  std::mutex suspect_mu_;
  std::vector<absl::Time> suspect_until_;  // per processor
  // tasker_notifier_pushes_dropped_total, read at each scrape; declared last, so destroyed first.
  metrics::ScrapedValue dropped_metric_{"tasker_notifier_pushes_dropped_total",
                                        "Pushes (dispatches, results) dropped because their peer's queue was full.",
                                        metrics::ScrapedValue::Type::kCounter,
                                        {},
                                        [this] { return static_cast<double>(dropped_.load()); }};
};

}  // namespace tasker::services

#endif  // TASKER_SERVICES_COMMON_NOTIFIER_H_
