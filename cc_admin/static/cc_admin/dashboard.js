/* cc-rules dashboards: stacked bars per agent (Chart.js, vendored) and the live board refresh. */
(function () {
  "use strict";

  function cssVar(name, fallback) {
    var body = document.querySelector(".cc-dashboard") || document.body;
    var value = getComputedStyle(body).getPropertyValue(name).trim();
    return value || fallback;
  }

  function drawCharts() {
    var source = document.getElementById("cc-chart-data");
    if (!source || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var colors = {
      handling: cssVar("--cc-handling", "#1f6f8b"),
      ready_idle: cssVar("--cc-ready", "#2f9e62"),
      not_ready: cssVar("--cc-not-ready", "#e3a008"),
      after_call_work: cssVar("--cc-acw", "#6366f1"),
      dnd: cssVar("--cc-dnd", "#d9467a"),
    };
    var grid = cssVar("--hairline-color", "#e8e8e8");
    var text = cssVar("--body-quiet-color", "#666");
    Chart.defaults.font.family = cssVar("--font-family-primary", "sans-serif");
    Chart.defaults.color = text;

    // One scale for every agent, so bars compare across the small multiples.
    var top = 0;
    data.charts.forEach(function (chart) {
      data.labels.forEach(function (_, i) {
        var sum = 0;
        data.series.forEach(function (s) { sum += chart.series[s.key][i] || 0; });
        top = Math.max(top, sum, chart.series[data.dnd.key][i] || 0);
      });
    });
    var yMax = top > 0 ? Math.ceil(top) : 1;

    document.querySelectorAll("canvas[data-chart-index]").forEach(function (canvas) {
      var chart = data.charts[Number(canvas.dataset.chartIndex)];
      var datasets = data.series.map(function (s) {
        return {
          type: "bar",
          label: s.label,
          data: chart.series[s.key],
          backgroundColor: colors[s.key],
          borderRadius: 3,
          borderSkipped: false,
          stack: "time",
          order: 2,
        };
      });
      datasets.push({
        type: "line",
        label: data.dnd.label,
        data: chart.series[data.dnd.key],
        borderColor: colors.dnd,
        backgroundColor: colors.dnd,
        borderWidth: 2,
        pointRadius: 2.5,
        tension: 0.25,
        order: 1,
      });
      new Chart(canvas, {
        data: { labels: data.labels, datasets: datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          interaction: { mode: "index", intersect: false },
          plugins: {
            legend: { display: false },
            tooltip: {
              callbacks: {
                label: function (ctx) {
                  var h = ctx.parsed.y || 0;
                  var minutes = Math.round(h * 60);
                  return " " + ctx.dataset.label + ": " + Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
                },
              },
            },
          },
          scales: {
            x: { stacked: true, grid: { display: false } },
            y: {
              stacked: true,
              beginAtZero: true,
              max: yMax,
              grid: { color: grid },
              title: { display: true, text: "hours" },
            },
          },
        },
      });
    });
  }

  function refreshLiveBoard() {
    var board = document.getElementById("cc-live");
    if (!board) return;
    var seconds = Number(board.dataset.refreshSeconds || 10);
    setInterval(function () {
      if (document.hidden) return;
      fetch(board.dataset.refreshUrl, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { board.innerHTML = html; })
        .catch(function () { /* keep the last board; the next tick tries again */ });
    }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    refreshLiveBoard();
  });
})();
