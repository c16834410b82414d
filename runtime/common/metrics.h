// Prometheus metrics of a Tasker process (prometheus-cpp, Debian's
// prometheus-cpp-dev), served on /metrics by StartMetricsExposer (every
// service binary: --metrics_listen, services/common/service_main.h).
//
//   metrics::Counters& calls = *new metrics::Counters(
//       "tasker_processor_calls_total", "Host calls performed.", {"service", "method", "outcome"});
//   calls.With({"gapi", "admin.users.list", "ok"}).Increment();
//
// Label values come from a bounded set by construction or are bounded here:
// a family keeps at most `max_series` label sets, further ones are counted
// under the value "other" in every label (a task naming endless methods
// cannot grow a scrape without bound). Never use ids as label values.
//
// Cost: With() is a hash lookup under a shared lock (no allocation once the
// series exists); Increment() is prometheus-cpp's atomic add, Observe() its
// short per-histogram lock. Values kept elsewhere (queue depths, sizes,
// counters that already exist as atomics) are read only when scraped
// (ScrapedValue), so they cost nothing on the hot path.
#ifndef TASKER_RUNTIME_COMMON_METRICS_H_
#define TASKER_RUNTIME_COMMON_METRICS_H_

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace tasker::metrics {

// The process's registry (what /metrics serves, with the scraped values).
prometheus::Registry& Registry();

// Latency buckets in seconds, 1 ms to 60 s.
const std::vector<double>& LatencyBuckets();

// A counter family with its series cached by label values.
class Counters {
 public:
  Counters(const std::string& name, const std::string& help, std::vector<std::string> labels,
           size_t max_series = 256);
  // The series of `values` (as many as labels, in order).
  prometheus::Counter& With(std::initializer_list<absl::string_view> values);

 private:
  prometheus::Family<prometheus::Counter>* family_;
  std::vector<std::string> labels_;
  size_t max_series_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, prometheus::Counter*> series_;
};

// A histogram family with its series cached by label values.
class Histograms {
 public:
  Histograms(const std::string& name, const std::string& help, std::vector<std::string> labels,
             std::vector<double> buckets = LatencyBuckets(), size_t max_series = 64);
  prometheus::Histogram& With(std::initializer_list<absl::string_view> values);

 private:
  prometheus::Family<prometheus::Histogram>* family_;
  std::vector<std::string> labels_;
  std::vector<double> buckets_;
  size_t max_series_;
  std::shared_mutex mu_;
  std::unordered_map<std::string, prometheus::Histogram*> series_;
};

// Unlabelled series (registered once per name; the same object after).
prometheus::Counter& Counter(const std::string& name, const std::string& help);
prometheus::Histogram& Histogram(const std::string& name, const std::string& help,
                                 const std::vector<double>& buckets = LatencyBuckets());

// Seconds since `start`, for Observe().
inline double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

// A value read from `read` at each scrape, as a gauge or a counter (the
// reading of a monotonic atomic kept elsewhere). Registered for the object's
// life: destroy it before what `read` reads. Several objects may share a name
// with different labels (one family).
class ScrapedValue {
 public:
  enum class Type { kGauge, kCounter };
  ScrapedValue(std::string name, std::string help, Type type, std::map<std::string, std::string> labels,
               std::function<double()> read);
  ~ScrapedValue();
  ScrapedValue(const ScrapedValue&) = delete;
  ScrapedValue& operator=(const ScrapedValue&) = delete;
};

// Serves /metrics over HTTP on `listen_address` ("host:port"; port 0 picks a
// free one) until StopMetricsExposer or exit. Returns the bound port.
// INVALID_ARGUMENT for a malformed address, UNAVAILABLE when it cannot bind.
absl::StatusOr<int> StartMetricsExposer(const std::string& listen_address);
void StopMetricsExposer();

// The text exposition format of everything (what /metrics answers).
std::string Render();

}  // namespace tasker::metrics

#endif  // TASKER_RUNTIME_COMMON_METRICS_H_
