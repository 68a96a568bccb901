//! The report: `BENCHMARKS.md` with every figure and each target's verdict, and one SVG chart per
//! backend (requests per second against concurrency, usher and the reference).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use crate::load::Stats;
use crate::run::{BackendResult, Settings};

/// lldap's user-update rate on this kind of machine (PRODUCT.md; lldap is not built by the
/// benchmark, so this figure is quoted, not measured in the run).
pub const LLDAP_UPDATES_PER_SEC: f64 = 600.0;

fn find<'a>(rows: &'a [(String, usize, Stats)], name: &str, c: usize) -> Option<&'a Stats> {
    rows.iter()
        .find(|(n, k, _)| n == name && *k == c)
        .map(|(_, _, s)| s)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// Which reference a scenario is compared with, and the share of its rate it must reach.
fn target_of(scenario: &str) -> Option<(&'static str, f64)> {
    match scenario {
        "bold_update" | "zitadel_connect_update" | "zitadel_grpc_update" => {
            Some(("ref_update", 0.5))
        }
        "get_user" | "zitadel_get_user" | "orgo_get_user" => Some(("ref_select", 0.6)),
        _ => None,
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "the report's date is the wall-clock time of the run"
)]
pub fn write(
    s: &Settings,
    results: &[BackendResult],
    out: &Path,
    charts: &Path,
) -> Result<(), String> {
    std::fs::create_dir_all(charts).map_err(|e| format!("{}: {e}", charts.display()))?;
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `scripts/bench` (the `usher-bench` crate) on {}; do not edit by hand.\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        md,
        "Machine: {cpus} CPUs; the load generator runs on the same CPUs. {} users seeded through the \
         bulk import; each measurement is {} s after {} s of warm-up, at {} concurrent connections. \
         Every usher figure is compared with a **reference measured in the same run under the same \
         load**: a bare axum handler doing one single-row `UPDATE` (or one primary-key `SELECT`) \
         through rusqlite on the same SQLite file with the same durability (WAL, \
         `synchronous=NORMAL`), or through tokio-postgres with prepared statements on the same \
         PostgreSQL database. After the import the database is settled (PostgreSQL: `VACUUM ANALYZE` and \
         `CHECKPOINT`; SQLite: a checkpoint emptying the WAL); then at each concurrency the \
         references are measured first and usher's scenarios right after them, one server running \
         at a time. lldap's {LLDAP_UPDATES_PER_SEC:.0} updates/s is quoted from PRODUCT.md \
         (measured on this kind of machine), not measured here.\n",
        s.users,
        s.duration.as_secs(),
        s.warmup.as_secs(),
        s.concurrency
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and "),
    );
    let _ = writeln!(
        md,
        "Seeded users have made-up names of two-letter syllables (`Karomita Sulovine`, different \
         for every user), `user<n>@bench.example` and a bcrypt password hash (cost 10) in the \
         import's `passwordHash` column. Scenarios: `bold_update` is `PUT /v2/users/{{id}}` with a \
         new first name; `zitadel_connect_update` is `UpdateHumanUser` over Connect JSON and \
         `zitadel_grpc_update` the same over gRPC (HTTP/2, protobuf); `get_user` is \
         `GET /v2/users/{{id}}`; `list_page` is `GET /v2/users?search=<4 letters>&sortBy=lastName&size=100`, \
         the first four letters of a random user's last name, as typed into a search box (about 0.1 % \
         of users match: a full page of 100 at 100,000 users and more); `password_change` is \
         `SetPassword` over Connect: one verification of the stored hash (a new password equal to \
         the current one is refused; bcrypt cost 10 for an imported hash, argon2id after) and one \
         argon2id hash at the OWASP parameters. Ids are uniformly random over all users.\n"
    );

    for r in results {
        let _ = writeln!(md, "## {}\n", r.backend);
        let _ = writeln!(
            md,
            "| scenario | connections | usher req/s | p50 ms | p99 ms | requests | errors | reference | ref req/s | ratio | target |"
        );
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|");
        for (name, c, st) in &r.usher {
            let (reference, ref_rps, ratio, target) =
                match target_of(name).and_then(|(rn, need)| {
                    find(&r.reference, rn, *c)
                        .map(|rs| (rn, rs.rps, st.rps / rs.rps.max(1e-9), need))
                }) {
                    Some((rn, rrps, ratio, need)) => (
                        rn.to_owned(),
                        format!("{rrps:.0}"),
                        format!("{:.0} %", ratio * 100.0),
                        format!("≥ {:.0} %: {}", need * 100.0, verdict(ratio >= need)),
                    ),
                    None => (
                        "—".to_owned(),
                        "—".to_owned(),
                        "—".to_owned(),
                        "—".to_owned(),
                    ),
                };
            let _ = writeln!(
                md,
                "| {name} | {c} | {:.0} | {:.2} | {:.2} | {} | {} | {reference} | {ref_rps} | {ratio} | {target} |",
                st.rps, st.p50_ms, st.p99_ms, st.requests, st.errors
            );
        }
        for (name, c, st) in &r.reference {
            let _ = writeln!(
                md,
                "| *{name}* (reference) | {c} | {:.0} | {:.2} | {:.2} | {} | {} | — | — | — | — |",
                st.rps, st.p50_ms, st.p99_ms, st.requests, st.errors
            );
        }
        let _ = writeln!(md);

        let _ = writeln!(md, "| target | measured | verdict |");
        let _ = writeln!(md, "|---|---:|---|");
        if r.backend == "sqlite" {
            if let Some(st) = find(&r.usher, "bold_update", 32) {
                let _ = writeln!(
                    md,
                    "| profile update p99 < 5 ms at 32 connections | {:.2} ms | {} |",
                    st.p99_ms,
                    verdict(st.p99_ms < 5.0)
                );
            }
            let best = r
                .usher
                .iter()
                .filter(|(n, _, _)| n == "bold_update")
                .map(|(_, _, s)| s.rps)
                .fold(0.0, f64::max);
            let _ = writeln!(
                md,
                "| profile updates ≥ 20× lldap ({:.0}/s) | {:.0}/s = {:.0}× | {} |",
                LLDAP_UPDATES_PER_SEC,
                best,
                best / LLDAP_UPDATES_PER_SEC,
                verdict(best >= 20.0 * LLDAP_UPDATES_PER_SEC)
            );
        }
        for (_, c, st) in r.usher.iter().filter(|(n, _, _)| n == "list_page") {
            let _ = writeln!(
                md,
                "| filtered page at {} users: p99 < 20 ms, {c} connection{} | {:.2} ms | {} |",
                s.users,
                if *c == 1 { "" } else { "s" },
                st.p99_ms,
                verdict(st.p99_ms < 20.0)
            );
        }
        let _ = writeln!(
            md,
            "| bulk import of {} users with pre-hashed passwords < 60 s | {:.1} s | {} |",
            s.users,
            r.import_secs,
            verdict(r.import_secs < 60.0)
        );
        let _ = writeln!(
            md,
            "| start to ready on the seeded database < 200 ms | {:.0} ms | {} |",
            r.start_to_ready_ms,
            verdict(r.start_to_ready_ms < 200.0)
        );
        let _ = writeln!(
            md,
            "| resident memory idle < 30 MiB | {:.1} MiB | {} |",
            r.rss_idle_mib,
            verdict(r.rss_idle_mib < 30.0)
        );
        let _ = writeln!(
            md,
            "| resident memory under load < 200 MiB (peak) | {:.1} MiB | {} |",
            r.rss_load_mib,
            verdict(r.rss_load_mib < 200.0)
        );
        if let Some(st) = &r.reads_under_hashing {
            let _ = writeln!(
                md,
                "| `get_user` p99 < 10 ms while 8 password changes saturate the CPU | {:.2} ms ({:.0} req/s) | {} |",
                st.p99_ms,
                st.rps,
                verdict(st.p99_ms < 10.0)
            );
        }
        let chart = charts.join(format!("{}.svg", r.backend));
        draw(r, &chart)?;
        let rel = chart
            .strip_prefix(out.parent().unwrap_or(Path::new("")))
            .unwrap_or(&chart);
        let _ = writeln!(md, "\n![{} throughput]({})\n", r.backend, rel.display());
    }
    // What limits the figures, written by hand after profiling (kept beside the charts).
    let notes = charts.join("limits.md");
    if let Ok(text) = std::fs::read_to_string(&notes) {
        let _ = writeln!(md, "{}", text.trim_end());
    }
    std::fs::write(out, md).map_err(|e| format!("{}: {e}", out.display()))
}

const SERIES: &[(&str, bool, RGBColor)] = &[
    ("bold_update", false, RGBColor(0x1f, 0x77, 0xb4)),
    ("zitadel_connect_update", false, RGBColor(0xff, 0x7f, 0x0e)),
    ("zitadel_grpc_update", false, RGBColor(0x2c, 0xa0, 0x2c)),
    ("get_user", false, RGBColor(0xd6, 0x27, 0x28)),
    ("ref_update", true, RGBColor(0x94, 0x67, 0xbd)),
    ("ref_select", true, RGBColor(0x8c, 0x56, 0x4b)),
];

fn draw(r: &BackendResult, path: &Path) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("chart {}: {e}", path.display());
    let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(600);
    panel(r, &left, "requests per second", "requests/s", |s| s.rps).map_err(|e| err(&e))?;
    panel(r, &right, "p99 latency", "p99 ms", |s| s.p99_ms).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn panel(
    r: &BackendResult,
    area: &Area<'_>,
    title: &str,
    unit: &str,
    metric: fn(&Stats) -> f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut cs: Vec<usize> = r.usher.iter().map(|(_, c, _)| *c).collect();
    cs.sort_unstable();
    cs.dedup();
    let max_c = cs.last().copied().unwrap_or(1) as f64;
    let shown = |name: &str| SERIES.iter().any(|(n, _, _)| *n == name);
    let max_y = r
        .usher
        .iter()
        .chain(r.reference.iter())
        .filter(|(n, _, _)| shown(n))
        .map(|(_, _, s)| metric(s))
        .fold(0.001, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} — {title}", r.backend), ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..max_c * 1.05, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc("concurrent connections")
        .y_desc(unit)
        .draw()?;
    for &(name, is_ref, color) in SERIES {
        let rows = if is_ref { &r.reference } else { &r.usher };
        let points: Vec<(f64, f64)> = cs
            .iter()
            .filter_map(|&c| find(rows, name, c).map(|s| (c as f64, metric(s))))
            .collect();
        if points.is_empty() {
            continue;
        }
        let style = if is_ref {
            color.stroke_width(1)
        } else {
            color.stroke_width(3)
        };
        let label = if is_ref {
            format!("{name} (reference)")
        } else {
            name.to_owned()
        };
        chart
            .draw_series(LineSeries::new(points.clone(), style))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}
