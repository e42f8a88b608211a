// The dashboard's pages: each reads its JSON endpoint (body[data-api]) and
// draws its charts with Apache ECharts (SVG renderer). When drawing is done
// body[data-state] is "ready" (or "error", with a banner saying why); each
// chart's element carries data-points, the number of data points it drew.
(function () {
  "use strict";
  const body = document.body;
  const status = document.getElementById("status");

  function fail(msg) {
    status.hidden = false;
    status.className = "banner error";
    status.textContent = msg;
    body.dataset.state = "error";
  }

  if (!window.echarts) {
    fail("The chart library (Apache ECharts) did not load: run make ui-assets to fetch it into the cache, then reload.");
    return;
  }

  const fmt = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
  const pct = (x) => (x == null ? "—" : fmt.format(100 * x) + " %");

  function el(id) { return document.getElementById(id); }

  // draw puts option into chart id; points is how many data points it
  // shows (0: an empty chart says so instead).
  function draw(id, title, option, points, note, empty) {
    el("title-" + id).textContent = title;
    if (note) el("note-" + id).textContent = note;
    const box = el("chart-" + id);
    const old = echarts.getInstanceByDom(box);
    if (old) old.dispose();
    box.dataset.points = String(points);
    if (points === 0) {
      box.innerHTML = '<div class="empty"></div>';
      box.firstChild.textContent = empty || "no data yet";
      return;
    }
    box.innerHTML = "";
    const chart = echarts.init(box, null, { renderer: "svg" });
    chart.setOption(Object.assign({
      animation: false,
      tooltip: { trigger: "axis" },
      grid: { left: 60, right: 30, top: 40, bottom: 40, containLabel: true },
    }, option));
  }

  function figures(list) {
    const box = el("figures");
    box.innerHTML = "";
    for (const [label, value] of list) {
      const f = document.createElement("div");
      f.className = "figure";
      const b = document.createElement("b");
      b.textContent = value;
      f.append(b, label);
      box.append(f);
    }
  }

  function table(head, rows) {
    const t = document.createElement("table");
    const tr = t.insertRow();
    for (const h of head) {
      const th = document.createElement("th");
      th.textContent = h;
      tr.append(th);
    }
    for (const r of rows) {
      const row = t.insertRow();
      for (const c of r) row.insertCell().textContent = c;
    }
    el("tables").append(t);
  }

  // pivot turns rows {week, key, instances} into one stacked series per key.
  function pivot(rows, weeks) {
    const keys = [...new Set(rows.map((r) => r.key))];
    const at = new Map(weeks.map((w, i) => [w, i]));
    return keys.map((k) => {
      const data = weeks.map(() => 0);
      for (const r of rows) if (r.key === k) data[at.get(r.week)] = r.instances;
      return { name: k, type: "bar", stack: "all", data };
    });
  }

  const legend = { top: 0, type: "scroll" };
  const byWeek = (weeks) => ({ type: "category", data: weeks });

  const pages = {
    "/adoption": function (d) {
      const weeks = d.weeks.map((w) => w.week);
      const last = d.weeks[d.weeks.length - 1];
      figures([
        ["installations reporting, week of " + (last ? last.week : "—"), last ? fmt.format(last.instances) : "—"],
        ["their active users", last ? fmt.format(last.active_users) : "—"],
        ["pings in the warehouse", fmt.format(d.weeks.reduce((n, w) => n + w.pings, 0))],
      ]);
      draw("instances", "Installations reporting per week", {
        xAxis: byWeek(weeks), yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "installations", type: "bar", data: d.weeks.map((w) => w.instances) }],
      }, weeks.length);
      draw("pings", "Pings per week", {
        xAxis: byWeek(weeks), yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "pings", type: "bar", data: d.weeks.map((w) => w.pings) }],
      }, weeks.length);
      draw("active-users", "Active users per week (sum over installations)", {
        xAxis: byWeek(weeks), yAxis: { type: "value" },
        series: [{ name: "active users", type: "line", data: d.weeks.map((w) => w.active_users) }],
      }, weeks.length);
      draw("versions", "Installations per version (major.minor)", {
        legend, xAxis: byWeek(weeks), yAxis: { type: "value", minInterval: 1 },
        series: pivot(d.versions, weeks),
      }, d.versions.length);
      draw("editions", "Installations per edition", {
        legend, xAxis: byWeek(weeks), yAxis: { type: "value", minInterval: 1 },
        series: pivot(d.editions, weeks),
      }, d.editions.length);
    },

    "/stages": function (d) {
      const latest = d.rows.filter((r) => r.month === d.latest);
      const name = (r) => r.xmau_kind + " · " + (r.label || r.key_path);
      figures([["latest month", d.latest || "—"], ["xMAU metrics that month", String(latest.length)]]);
      draw("xmau-latest", "xMAU of " + (d.latest || "—") + ": recorded and estimated", {
        legend, tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "value" },
        yAxis: { type: "category", data: latest.map(name) },
        series: [
          { name: "recorded", type: "bar", data: latest.map((r) => r.recorded_usage) },
          { name: "estimated", type: "bar", data: latest.map((r) => r.estimated_usage) },
        ],
      }, latest.length);
      const months = [...new Set(d.rows.map((r) => r.month))];
      const series = new Map();
      for (const r of d.rows) {
        const key = name(r) + " (" + r.key_path + ")";
        if (!series.has(key)) series.set(key, months.map(() => null));
        series.get(key)[months.indexOf(r.month)] = r.estimated_usage;
      }
      draw("xmau-months", "Estimated xMAU per month", {
        legend, xAxis: { type: "category", data: months }, yAxis: { type: "value" },
        series: [...series].map(([k, data]) => ({ name: k, type: "line", data, connectNulls: true })),
      }, d.rows.length, "estimated = recorded ÷ share of known installations (seat-weighted) that reported");
      table(["month", "kind", "stage / group", "metric", "recorded", "estimated", "reporting", "known", "reporting share"],
        d.rows.map((r) => [r.month, r.xmau_kind, r.label, r.key_path, fmt.format(r.recorded_usage),
          fmt.format(r.estimated_usage), r.reporting_instances, r.known_instances, pct(r.pct_reporting)]));
    },

    "/devops-score": async function (d) {
      figures([["month", d.month || "—"], ["instances scored", String(d.distribution.reduce((n, b) => n + b.instances, 0))]]);
      draw("distribution", "Overall score distribution, " + (d.month || "—"), {
        xAxis: { type: "category", data: d.distribution.map((b) => b.from + "–" + (b.from + 10)) },
        yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "instances", type: "bar", data: d.distribution.map((b) => b.instances) }],
      }, d.distribution.reduce((n, b) => n + b.instances, 0));
      const who = (l) => l.hostname || l.uuid;
      draw("leaders", "Leading instances (overall score)", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "value", max: 100 },
        yAxis: { type: "category", inverse: true, data: d.leaders.map(who) },
        series: [{ name: "overall score", type: "bar", data: d.leaders.map((l) => +l.overall_score.toFixed(1)) }],
      }, d.leaders.length);
      if (d.leaders.length === 0) {
        draw("features", "One instance's features", {}, 0);
        return;
      }
      const pick = document.createElement("select");
      pick.id = "instance";
      for (const l of d.leaders) pick.add(new Option(who(l), l.uuid));
      const want = new URLSearchParams(location.search).get("uuid");
      if (want && d.leaders.some((l) => l.uuid === want)) pick.value = want;
      el("note-features").before(pick);
      const show = async () => {
        const r = await fetch("/api/devops-score/instance?uuid=" + encodeURIComponent(pick.value));
        const s = await r.json();
        if (!r.ok) throw new Error(s.error);
        draw("features", "Ten features of " + (s.hostname || s.uuid) + " (" + s.month + ")", {
          legend, tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
          xAxis: { type: "category", data: s.features.map((f) => f.feature), axisLabel: { rotate: 30 } },
          yAxis: [{ type: "value", name: "% of leaders", max: 100 }, { type: "value", name: "per active user" }],
          series: [
            { name: "percentage", type: "bar", data: s.features.map((f) => f.percentage) },
            { name: "instance", type: "line", yAxisIndex: 1, data: s.features.map((f) => f.instance) },
            { name: "leaders", type: "line", yAxisIndex: 1, data: s.features.map((f) => f.leader) },
          ],
        }, s.features.length, "overall score " + fmt.format(s.overall_score) + " (the mean of the ten percentages)");
      };
      pick.addEventListener("change", () => show().catch((e) => fail(String(e))));
      await show();
    },

    "/licenses": function (d) {
      const subs = d.subscriptions;
      const name = (s) => s.subscription_id + " (" + s.account_id + ")";
      const seated = subs.filter((s) => s.utilization_ratio != null);
      const noSubs = "no ping carries a subscription: the enricher matches licenses to subscriptions through the license directory (DIRECTORY_URL), which the all-in-one runs without";
      figures([["subscriptions", String(subs.length)],
        ["active users", fmt.format(subs.reduce((n, s) => n + s.active_users, 0))],
        ["seats", fmt.format(subs.reduce((n, s) => n + (s.seats || 0), 0))]]);
      draw("utilization", "Seat utilization per subscription", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: seated.map(name) },
        yAxis: { type: "value", axisLabel: { formatter: "{value} %" } },
        series: [{ name: "utilization %", type: "bar", data: seated.map((s) => +(100 * s.utilization_ratio).toFixed(1)) }],
      }, seated.length, "", noSubs);
      draw("seats", "Active users and seats", {
        legend, tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: subs.map(name) }, yAxis: { type: "value" },
        series: [
          { name: "active users", type: "bar", data: subs.map((s) => s.active_users) },
          { name: "seats", type: "bar", data: subs.map((s) => s.seats) },
        ],
      }, subs.length, "", noSubs);
      table(["account", "subscription", "tier", "installations", "active users", "seats", "utilization", "last ping", "days since"],
        subs.map((s) => [s.account_id, s.subscription_id, s.product_tier, s.installations, s.active_users,
          s.seats == null ? "—" : s.seats, pct(s.utilization_ratio), s.last_ping_at, s.days_since_last_ping]));
    },

    "/health": function (d) {
      const live = d.live;
      const noLive = d.live_error || "live counters come from the running services: serviceping run, or serviceping ui --metrics URL";
      const total = (list) => list.reduce((n, c) => n + c.count, 0);
      figures([
        ["pings in the warehouse", fmt.format(d.received.reduce((n, r) => n + r.pings, 0))],
        ["accepted since start", live ? fmt.format(live.accepted) : "—"],
        ["rejected since start", live ? fmt.format(total(live.rejected)) : "—"],
        ["dead letters", live ? fmt.format(total(live.dead_letters)) : "—"],
        ["ping→queryable p50", live && live.lag ? fmt.format(live.lag.p50_seconds) + " s" : "—"],
        ["ping→queryable p95", live && live.lag ? fmt.format(live.lag.p95_seconds) + " s" : "—"],
      ]);
      draw("received", "Pings received per day (in the warehouse)", {
        xAxis: { type: "category", data: d.received.map((r) => r.day) }, yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "pings", type: "bar", data: d.received.map((r) => r.pings) }],
      }, d.received.length);
      const rejected = live ? live.rejected : [];
      draw("rejected", "Requests rejected by reason (since start)", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: rejected.map((c) => c.key) }, yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "rejected", type: "bar", data: rejected.map((c) => c.count) }],
      }, rejected.length, "", live ? "no request rejected since the gateway started" : noLive);
      const dead = live ? live.dead_letters : [];
      draw("dead-letters", "Dead letters by consumer (since start)", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: dead.map((c) => c.key) }, yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "dead letters", type: "bar", data: dead.map((c) => c.count) }],
      }, dead.length, "serviceping dlq list shows them", noLive);
      const versions = d.fallbacks.map((v) => v.version);
      const kind = (k, label) => ({ name: label, type: "bar", stack: "fallbacks", data: d.fallbacks.map((v) => v[k]) });
      draw("fallbacks", "Metric fallbacks per version", {
        legend, xAxis: { type: "category", data: versions },
        yAxis: [{ type: "value", name: "values", minInterval: 1 }, { type: "value", name: "rate %" }],
        series: [kind("fallback_timeout", "timeout (-1)"), kind("fallback_redis", "redis (-2)"),
          kind("fallback_sql", "sql (-3)"), kind("fallback_deprecated", "deprecated (-1000)"),
          { name: "fallback rate %", type: "line", yAxisIndex: 1, data: d.fallbacks.map((v) => +(100 * v.fallback_rate).toFixed(2)) }],
      }, versions.length);
      const lag = live && live.lag;
      const buckets = lag ? lag.buckets : [];
      const le = (b, i) => (b.le == null ? "> " + buckets[i - 1].le + " s" : "≤ " + b.le + " s");
      draw("lag", "Ping→queryable lag (received by the gateway → written by the loader)", {
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: { type: "category", data: buckets.map(le) }, yAxis: { type: "value", minInterval: 1 },
        series: [{ name: "pings", type: "bar", data: buckets.map((b) => b.count) }],
      }, buckets.length, lag ? "mean " + fmt.format(lag.mean_seconds) + " s over " + lag.count + " pings" : "",
      live ? "no ping written since the loader started" : noLive);
      table(["version", "pings", "metric values", "timeout", "redis", "sql", "deprecated", "fallback rate", "error reports"],
        d.fallbacks.map((v) => [v.version, v.pings, v.metric_values, v.fallback_timeout, v.fallback_redis,
          v.fallback_sql, v.fallback_deprecated, pct(v.fallback_rate), v.error_reports]));
    },
  };

  async function main() {
    const r = await fetch(body.dataset.api);
    const d = await r.json();
    if (!r.ok) {
      fail(d.error || "HTTP " + r.status);
      return;
    }
    await pages[body.dataset.page](d);
    body.dataset.state = "ready";
  }
  main().catch((e) => fail("Drawing the page failed: " + e));
})();
