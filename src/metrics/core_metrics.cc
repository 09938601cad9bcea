#include "etrnd/metrics/core_metrics.h"

#include <string>

#include "etrnd/common/check.h"

namespace etrnd::metrics {
namespace {

constexpr int kReplyCodeMin = 100;
constexpr int kReplyCodeMax = 599;

double AsDouble(uint64_t value) { return static_cast<double>(value); }

}  // namespace

void CodeCounter::Add(int reply_code) {
  ETRND_CHECK(reply_code >= kReplyCodeMin && reply_code <= kReplyCodeMax);
  ++counts_[reply_code];
}

void DeclareEtrndMetrics(Registry* registry) {
  Registry& r = *registry;
  r.Declare("etrnd_connections_total", "Inbound SMTP connections accepted.", MetricType::kCounter);
  r.Declare("etrnd_messages_accepted_total", "Messages queued (250 to the final dot).",
            MetricType::kCounter);
  r.Declare("etrnd_messages_refused_total",
            "Recipients or messages refused, by the SMTP reply code that refused them.",
            MetricType::kCounter);
  r.Declare("etrnd_received_bytes_total", "Bytes of accepted messages (Received: header included).",
            MetricType::kCounter);
  r.Declare("etrnd_etrn_total", "ETRN commands answered, by reply code.", MetricType::kCounter);
  r.Declare("etrnd_atrn_total", "ODMR ATRN commands answered, by reply code.",
            MetricType::kCounter);
  r.Declare("etrnd_auth_total", "SMTP AUTH attempts, by result (ok, failed, locked_out, busy).",
            MetricType::kCounter);
  r.Declare("etrnd_peer_etrn_total",
            "ETRNs forwarded to --peers, by result (in_time, late, connecting, down, dropped).",
            MetricType::kCounter);
  r.Declare("etrnd_deliveries_total", "Recipient delivery attempts to the next hop, by outcome.",
            MetricType::kCounter);
  r.Declare("etrnd_bounces_total", "Delivery status notifications (bounces) queued.",
            MetricType::kCounter);
  r.Declare("etrnd_spool_compacted_messages_total",
            "Messages compaction moved out of mostly-dead spool segments.", MetricType::kCounter);
  r.Declare("etrnd_spool_compacted_segments_total",
            "Spool segments compaction went through (their live mail moved).",
            MetricType::kCounter);
  r.Declare("etrnd_queued_messages",
            "Messages queued per owner core (a message queued for two domains counts twice).",
            MetricType::kGauge);
  r.Declare("etrnd_queued_recipients", "Unfinished recipients queued per owner core.",
            MetricType::kGauge);
  r.Declare("etrnd_queued_domains", "Domains with queued mail per owner core.", MetricType::kGauge);
  r.Declare("etrnd_open_connections", "Inbound SMTP sessions open now.", MetricType::kGauge);
  r.Declare("etrnd_spool_bytes", "Bytes of segment files and completion logs in the spool.",
            MetricType::kGauge);
  r.Declare("etrnd_etrn_reply_seconds", "Time from an ETRN command to its reply.",
            MetricType::kHistogram);
  r.Declare("etrnd_data_commit_seconds",
            "Time from the final dot of DATA to its reply (spool write and fdatasync).",
            MetricType::kHistogram);
  r.Declare("etrnd_delivery_seconds",
            "Time from the start of a flush to the next hop's 250 for a recipient.",
            MetricType::kHistogram);
  r.Declare("etrnd_loop_turn_seconds", "Work time of one reactor loop turn (ring wait excluded).",
            MetricType::kHistogram);
}

void AddCoreSnapshot(const CoreSnapshot& snapshot, Registry* registry) {
  Registry& r = *registry;
  const CoreMetrics& m = snapshot.metrics;
  r.Add("etrnd_connections_total", {}, AsDouble(m.connections_total));
  r.Add("etrnd_messages_accepted_total", {}, AsDouble(m.messages_accepted_total));
  for (const auto& [code, count] : m.messages_refused.counts()) {
    r.Add("etrnd_messages_refused_total", {{"code", std::to_string(code)}}, AsDouble(count));
  }
  r.Add("etrnd_received_bytes_total", {}, AsDouble(m.received_bytes_total));
  for (const auto& [code, count] : m.etrn_replies.counts()) {
    r.Add("etrnd_etrn_total", {{"code", std::to_string(code)}}, AsDouble(count));
  }
  for (const auto& [code, count] : m.atrn_replies.counts()) {
    r.Add("etrnd_atrn_total", {{"code", std::to_string(code)}}, AsDouble(count));
  }
  r.Add("etrnd_auth_total", {{"result", "ok"}}, AsDouble(m.auth_ok));
  r.Add("etrnd_auth_total", {{"result", "failed"}}, AsDouble(m.auth_failed));
  r.Add("etrnd_auth_total", {{"result", "locked_out"}}, AsDouble(m.auth_locked_out));
  r.Add("etrnd_auth_total", {{"result", "busy"}}, AsDouble(m.auth_busy));
  r.Add("etrnd_peer_etrn_total", {{"result", "in_time"}}, AsDouble(m.peer_etrn_in_time));
  r.Add("etrnd_peer_etrn_total", {{"result", "late"}}, AsDouble(m.peer_etrn_late));
  r.Add("etrnd_peer_etrn_total", {{"result", "connecting"}}, AsDouble(m.peer_etrn_connecting));
  r.Add("etrnd_peer_etrn_total", {{"result", "down"}}, AsDouble(m.peer_etrn_down));
  r.Add("etrnd_peer_etrn_total", {{"result", "dropped"}}, AsDouble(m.peer_etrn_dropped));
  r.Add("etrnd_deliveries_total", {{"outcome", "delivered"}}, AsDouble(m.deliveries_delivered));
  r.Add("etrnd_deliveries_total", {{"outcome", "deferred"}}, AsDouble(m.deliveries_deferred));
  r.Add("etrnd_deliveries_total", {{"outcome", "bounced"}}, AsDouble(m.deliveries_bounced));
  r.Add("etrnd_bounces_total", {}, AsDouble(m.bounces_total));
  r.Add("etrnd_spool_compacted_messages_total", {}, AsDouble(m.spool_compacted_messages));
  r.Add("etrnd_spool_compacted_segments_total", {}, AsDouble(m.spool_compacted_segments));

  const CoreGauges& g = snapshot.gauges;
  Labels core = {{"core", std::to_string(snapshot.core)}};
  r.Add("etrnd_queued_messages", core, AsDouble(g.queued_messages));
  r.Add("etrnd_queued_recipients", core, AsDouble(g.queued_recipients));
  r.Add("etrnd_queued_domains", core, AsDouble(g.queued_domains));
  r.Add("etrnd_open_connections", {}, AsDouble(g.open_connections));

  r.AddHistogram("etrnd_etrn_reply_seconds", {}, m.etrn_reply_seconds.snapshot());
  r.AddHistogram("etrnd_data_commit_seconds", {}, m.data_commit_seconds.snapshot());
  r.AddHistogram("etrnd_delivery_seconds", {}, m.delivery_seconds.snapshot());
  r.AddHistogram("etrnd_loop_turn_seconds", {}, m.loop_turn_seconds.snapshot());
}

void AddSpoolBytes(uint64_t bytes, Registry* registry) {
  registry->Add("etrnd_spool_bytes", {}, AsDouble(bytes));
}

}  // namespace etrnd::metrics
