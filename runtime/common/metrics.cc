#include "runtime/common/metrics.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/text_serializer.h"

namespace tasker::metrics {
namespace {

std::shared_ptr<prometheus::Registry>& SharedRegistry() {
  static auto* registry = new std::shared_ptr<prometheus::Registry>(std::make_shared<prometheus::Registry>());
  return *registry;
}

// The series key of label values: joined by a byte no label value contains
// in practice, into a per-thread buffer (no allocation once it has grown).
const std::string& SeriesKey(std::initializer_list<absl::string_view> values) {
  thread_local std::string key;
  key.clear();
  for (absl::string_view v : values) {
    key.append(v.data(), v.size());
    key.push_back('\x1f');
  }
  return key;
}

prometheus::Labels LabelsOf(const std::vector<std::string>& names, std::initializer_list<absl::string_view> values,
                            bool overflow) {
  prometheus::Labels labels;
  size_t i = 0;
  for (absl::string_view v : values) {
    if (i >= names.size()) break;
    labels[names[i++]] = overflow ? "other" : std::string(v);
  }
  for (; i < names.size(); ++i) labels[names[i]] = "";
  return labels;
}

// The series of `values` in a family's cache, added by `add` the first time.
// Overflowing label sets (beyond `max_series`) are added under "other" and
// not cached: the cache stays bounded too.
template <typename Metric, typename Add>
Metric& FindOrAdd(std::shared_mutex& mu, std::unordered_map<std::string, Metric*>& series, size_t max_series,
                  const std::vector<std::string>& names, std::initializer_list<absl::string_view> values, Add add) {
  const std::string& key = SeriesKey(values);
  {
    std::shared_lock<std::shared_mutex> lock(mu);
    auto it = series.find(key);
    if (it != series.end()) return *it->second;
  }
  std::unique_lock<std::shared_mutex> lock(mu);
  auto it = series.find(key);
  if (it != series.end()) return *it->second;
  const bool overflow = series.size() >= max_series;
  Metric* metric = &add(LabelsOf(names, values, overflow));
  if (!overflow) series.emplace(key, metric);
  return *metric;
}

// The ScrapedValues, collected at each scrape.
class ScrapedValues : public prometheus::Collectable {
 public:
  struct Entry {
    const ScrapedValue* owner;
    std::string name, help;
    ScrapedValue::Type type;
    std::map<std::string, std::string> labels;
    std::function<double()> read;
  };

  void Add(Entry entry) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back(std::move(entry));
  }
  void Remove(const ScrapedValue* owner) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.erase(std::remove_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.owner == owner; }),
                   entries_.end());
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<prometheus::MetricFamily> families;
    std::map<std::string, size_t> index;
    for (const Entry& e : entries_) {
      auto it = index.find(e.name);
      if (it == index.end()) {
        prometheus::MetricFamily family;
        family.name = e.name;
        family.help = e.help;
        family.type = e.type == ScrapedValue::Type::kCounter ? prometheus::MetricType::Counter
                                                             : prometheus::MetricType::Gauge;
        it = index.emplace(e.name, families.size()).first;
        families.push_back(std::move(family));
      }
      prometheus::ClientMetric metric;
      for (const auto& [k, v] : e.labels) metric.label.push_back({k, v});
      const double value = e.read();
      if (e.type == ScrapedValue::Type::kCounter) {
        metric.counter.value = value;
      } else {
        metric.gauge.value = value;
      }
      families[it->second].metric.push_back(std::move(metric));
    }
    return families;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

std::shared_ptr<ScrapedValues>& Scraped() {
  static auto* scraped = new std::shared_ptr<ScrapedValues>(std::make_shared<ScrapedValues>());
  return *scraped;
}

std::mutex g_exposer_mu;
std::unique_ptr<prometheus::Exposer> g_exposer;

}  // namespace

prometheus::Registry& Registry() { return *SharedRegistry(); }

const std::vector<double>& LatencyBuckets() {
  static const auto* buckets =
      new std::vector<double>{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return *buckets;
}

Counters::Counters(const std::string& name, const std::string& help, std::vector<std::string> labels,
                   size_t max_series)
    : family_(&prometheus::BuildCounter().Name(name).Help(help).Register(Registry())),
      labels_(std::move(labels)),
      max_series_(max_series) {}

prometheus::Counter& Counters::With(std::initializer_list<absl::string_view> values) {
  return FindOrAdd(mu_, series_, max_series_, labels_, values,
                   [this](const prometheus::Labels& labels) -> prometheus::Counter& { return family_->Add(labels); });
}

Histograms::Histograms(const std::string& name, const std::string& help, std::vector<std::string> labels,
                       std::vector<double> buckets, size_t max_series)
    : family_(&prometheus::BuildHistogram().Name(name).Help(help).Register(Registry())),
      labels_(std::move(labels)),
      buckets_(std::move(buckets)),
      max_series_(max_series) {}

prometheus::Histogram& Histograms::With(std::initializer_list<absl::string_view> values) {
  return FindOrAdd(mu_, series_, max_series_, labels_, values, [this](const prometheus::Labels& labels)
                                                                  -> prometheus::Histogram& {
    return family_->Add(labels, buckets_);
  });
}

prometheus::Counter& Counter(const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(Registry()).Add({});
}

prometheus::Histogram& Histogram(const std::string& name, const std::string& help,
                                 const std::vector<double>& buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(Registry()).Add({}, buckets);
}

ScrapedValue::ScrapedValue(std::string name, std::string help, Type type, std::map<std::string, std::string> labels,
                           std::function<double()> read) {
  Scraped()->Add({this, std::move(name), std::move(help), type, std::move(labels), std::move(read)});
}

ScrapedValue::~ScrapedValue() { Scraped()->Remove(this); }

absl::StatusOr<int> StartMetricsExposer(const std::string& listen_address) {
  const size_t colon = listen_address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen_address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen: expected host:port, got '", listen_address, "'"));
  }
  std::lock_guard<std::mutex> lock(g_exposer_mu);
  if (g_exposer) return absl::FailedPreconditionError("the metrics exposer is already running");
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(listen_address, 1);
    exposer->RegisterCollectable(SharedRegistry());
    exposer->RegisterCollectable(Scraped());
    const std::vector<int> ports = exposer->GetListeningPorts();
    if (ports.empty() || ports[0] == 0) {
      return absl::UnavailableError(absl::StrCat("--metrics_listen: cannot listen on ", listen_address));
    }
    g_exposer = std::move(exposer);
    return ports[0];
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("--metrics_listen: cannot listen on ", listen_address, ": ", e.what()));
  }
}

void StopMetricsExposer() {
  std::lock_guard<std::mutex> lock(g_exposer_mu);
  g_exposer.reset();
}

std::string Render() {
  std::vector<prometheus::MetricFamily> families = SharedRegistry()->Collect();
  std::vector<prometheus::MetricFamily> scraped = Scraped()->Collect();
  families.insert(families.end(), scraped.begin(), scraped.end());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace tasker::metrics
