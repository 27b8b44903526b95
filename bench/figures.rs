//! The bench's figures from its measurements: each with its scope (in-process operator, real
//! operator, pvectl), its target from issue 8 and, for the real operator without an API server,
//! why it is skipped.

use crate::cli;
use crate::inprocess::{Profile, Run};
use crate::measure;
use crate::operator;
use crate::report::{self, Figure, at_most};

/// Figures from the operator's controllers run in-process against the fake Kubernetes API.
pub const INPROCESS: &str = "in-process operator, fake kube with watches";
/// Figures from the `kubepve run` binary against a real API server.
pub const OPERATOR: &str = "kubepve run + real API server";
/// Figures from the `kubepve run` binary against the fake Kubernetes API over HTTP.
pub const OPERATOR_FAKE: &str = "kubepve run + fake kube over HTTP";
/// Figures from the pvectl binary.
pub const PVECTL: &str = "pvectl";

/// The targets of issues 8 and 17.
mod target {
    /// Proxmox calls per guest for create + start, on average (issue 17).
    pub const CALLS_PER_GUEST: f64 = 4.0;
    /// Proxmox calls per connection per poll interval once converged.
    pub const STEADY_PER_INTERVAL: f64 = 2.0;
    /// Proxmox calls per connection per minute once converged, full resync included (issue
    /// 14: at most one full read, two calls, a second, plus the fast path).
    pub const STEADY_PER_MINUTE: f64 = 150.0;
    /// Seconds for 1000 guests to converge with instant tasks (issue 17).
    pub const CONVERGE_1000_SECS: f64 = 30.0;
    /// Time for 1000 over time for 100.
    pub const SCALING_RATIO: f64 = 11.0;
    /// Peak RSS of the operator with 1000 objects, MiB.
    pub const RSS_MIB: f64 = 64.0;
    /// Proxmox calls of `pvectl vm list`.
    pub const LIST_CALLS: f64 = 1.0;
    /// CLI milliseconds of `pvectl vm list` beyond its Proxmox call.
    pub const LIST_OVERHEAD_MS: f64 = 100.0;
    /// `pvectl vm create --start` and `apply -f` of 100 manifests over the floor client (issue
    /// 17), in wall time and in Proxmox calls per guest.
    pub const FLOOR_RATIO: f64 = 1.5;
}

/// The figures of the in-process runs.
pub fn inprocess_figures(runs: &[Run]) -> Vec<Figure> {
    let mut figures = Vec::new();
    for run in runs {
        let id = format!("inprocess.{}.n{}", run.profile.name(), run.guests);
        let label = format!("{} guests, {} tasks", run.guests, run.profile.name());
        let converge_max = (run.profile == Profile::Instant && run.guests == 1000)
            .then_some(target::CONVERGE_1000_SECS);
        let mut converge = Figure::measured(
            format!("{id}.converge_secs"),
            INPROCESS,
            format!("{label}: create + start to all Ready"),
            run.converge_secs,
            "s",
            converge_max,
        );
        if !run.converged || run.running != run.guests {
            converge.verdict = report::Verdict::Fail;
            converge = converge.note(format!(
                "converged: {}, running in Proxmox: {}/{}",
                run.converged, run.running, run.guests
            ));
        }
        figures.push(converge);
        figures.push(
            Figure::measured(
                format!("{id}.calls_per_guest"),
                INPROCESS,
                format!("{label}: Proxmox calls per guest"),
                run.calls_per_guest(),
                "calls",
                at_most(target::CALLS_PER_GUEST),
            )
            .note(format!("{:?}", run.converge_calls)),
        );
        figures.push(
            Figure::measured(
                format!("{id}.steady_calls_per_interval"),
                INPROCESS,
                format!(
                    "{label}: steady fast-path calls per {}s poll interval",
                    run.poll_interval_secs
                ),
                run.steady_per_interval(),
                "calls",
                at_most(target::STEADY_PER_INTERVAL),
            )
            .note(format!(
                "{:?}; the full resync's config and pending reads are counted below",
                run.steady_calls
            )),
        );
        figures.push(
            Figure::measured(
                format!("{id}.steady_calls_per_minute"),
                INPROCESS,
                format!(
                    "{label}: steady calls per connection per minute, full resync every {}s",
                    run.resync_interval_secs
                ),
                run.steady_per_minute(),
                "calls",
                at_most(target::STEADY_PER_MINUTE),
            )
            .note("measured; the resync is held to 1 read (config + pending) a second"),
        );
        figures.push(
            Figure::measured(
                format!("{id}.steady_calls_per_minute_default_resync"),
                INPROCESS,
                format!("{label}: steady calls per connection per minute, default 10m resync"),
                run.steady_per_minute_at_defaults(),
                "calls",
                at_most(target::STEADY_PER_MINUTE),
            )
            .note(
                "scaled: the measured fast path plus min(1/s, guests / 450 s) full reads at                  the measured calls per read",
            ),
        );
        figures.push(
            Figure::measured(
                format!("{id}.peak_rss_mib"),
                INPROCESS,
                format!("{label}: peak RSS (bench process)"),
                run.peak_rss_mib,
                "MiB",
                None,
            )
            .note(
                "not the operator's: the process also holds the in-memory kube, which keeps \
                 every request it answered; the 64 MiB target is judged on `kubepve run`",
            ),
        );
        figures.push(Figure::measured(
            format!("{id}.cpu_secs"),
            INPROCESS,
            format!("{label}: CPU time (bench process)"),
            run.cpu_secs,
            "s",
            None,
        ));
        figures.push(
            Figure::measured(
                format!("{id}.fakepve_cpu_secs"),
                INPROCESS,
                format!("{label}: fakepve CPU time until Ready"),
                run.fakepve_cpu_secs,
                "s",
                None,
            )
            .note("the fake Proxmox is one Python process; its time bounds the convergence"),
        );
        figures.push(Figure::measured(
            format!("{id}.converge_cpu_secs"),
            INPROCESS,
            format!("{label}: bench process CPU time until Ready"),
            run.converge_cpu_secs,
            "s",
            None,
        ));
    }
    let time = |profile: Profile, n: usize| {
        runs.iter()
            .find(|r| r.profile == profile && r.guests == n)
            .map(|r| r.converge_secs)
    };
    let cpu = |n: usize| {
        runs.iter()
            .find(|r| r.profile == Profile::Instant && r.guests == n)
            .map(|r| (r.converge_cpu_secs, r.fakepve_cpu_secs))
    };
    if let (Some(small), Some(large)) = (cpu(100), cpu(1000)) {
        figures.push(
            Figure::measured(
                "inprocess.instant.converge_cpu_ratio_1000_100",
                INPROCESS,
                "instant tasks: bench process CPU until Ready, 1000 / 100",
                large.0 / small.0.max(1e-9),
                "x",
                None,
            )
            .note("the operator's side of the cost: linear means about 10"),
        );
        figures.push(
            Figure::measured(
                "inprocess.instant.fakepve_cpu_ratio_1000_100",
                INPROCESS,
                "instant tasks: fakepve CPU until Ready, 1000 / 100",
                large.1 / small.1.max(1e-9),
                "x",
                None,
            )
            .note("the fake's side: it finds a guest by scanning the list of all guests"),
        );
    }
    for profile in [Profile::Instant, Profile::Realistic] {
        if let (Some(small), Some(large)) = (time(profile, 100), time(profile, 1000)) {
            let max = (profile == Profile::Instant).then_some(target::SCALING_RATIO);
            figures.push(Figure::measured(
                format!("inprocess.{}.converge_ratio_1000_100", profile.name()),
                INPROCESS,
                format!("{} tasks: time for 1000 / time for 100", profile.name()),
                large / small.max(1e-9),
                "x",
                max,
            ));
        }
    }
    figures
}

/// One operator figure: id suffix, description, unit, target, value (`None`: not measured).
type Row = (&'static str, String, &'static str, Option<f64>, Option<f64>);

/// Which API the `kubepve run` figures were measured against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OperatorApi {
    /// A real kube-apiserver (skipped without one).
    Real,
    /// The tests' fake Kubernetes API served over HTTP on loopback.
    Fake,
}

impl OperatorApi {
    fn scope(self) -> &'static str {
        match self {
            OperatorApi::Real => OPERATOR,
            OperatorApi::Fake => OPERATOR_FAKE,
        }
    }

    fn id(self) -> &'static str {
        match self {
            OperatorApi::Real => "operator",
            OperatorApi::Fake => "operator_fakeapi",
        }
    }
}

/// The figures of `kubepve run`, or (real API server, none given) skipped ones saying what is
/// needed.
pub fn operator_figures(
    api: OperatorApi,
    runs: Option<&[operator::OperatorRun]>,
    sizes: &[usize],
) -> Vec<Figure> {
    const WHY: &str =
        "SKIPPED: needs a real API server (set KUBEBUILDER_ASSETS or KUBEPVE_TEST_KUBECONFIG)";
    let (scope, prefix) = (api.scope(), api.id());
    let mut figures = Vec::new();
    for &n in sizes {
        let id = format!("{prefix}.instant.n{n}");
        let label = format!("{n} guests, instant tasks");
        let run = runs.and_then(|r| r.iter().find(|r| r.guests == n));
        let converge_max = (n == 1000).then_some(target::CONVERGE_1000_SECS);
        let rss_max = (n >= 1000).then_some(target::RSS_MIB);
        let rows: [Row; 8] = [
            (
                "converge_secs",
                format!("{label}: operator start to all Ready"),
                "s",
                converge_max,
                run.map(|r| r.converge_secs),
            ),
            (
                "calls_per_guest",
                format!("{label}: Proxmox calls per guest"),
                "calls",
                at_most(target::CALLS_PER_GUEST),
                run.map(|r| measure::total(&r.converge_calls) as f64 / n.max(1) as f64),
            ),
            (
                "steady_calls_per_interval",
                format!("{label}: steady calls per poll interval"),
                "calls",
                at_most(target::STEADY_PER_INTERVAL),
                run.map(|r| {
                    measure::total(&r.steady_calls) as f64 / f64::from(r.steady_intervals.max(1))
                }),
            ),
            (
                "peak_rss_mib",
                format!("{label}: operator peak RSS"),
                "MiB",
                rss_max,
                run.map(|r| r.peak_rss_mib),
            ),
            (
                "converge_cpu_secs",
                format!("{label}: operator CPU time until Ready"),
                "s",
                None,
                run.map(|r| r.converge_cpu_secs),
            ),
            (
                "cpu_secs",
                format!("{label}: operator CPU time"),
                "s",
                None,
                run.map(|r| r.cpu_secs),
            ),
            (
                "fakepve_cpu_secs",
                format!("{label}: fakepve CPU time until Ready"),
                "s",
                None,
                run.map(|r| r.fakepve_cpu_secs),
            ),
            (
                "bench_cpu_secs",
                format!("{label}: bench process CPU time until Ready"),
                "s",
                None,
                run.map(|r| r.bench_cpu_secs),
            ),
        ];
        for (key, what, unit, max, value) in rows {
            let id = format!("{id}.{key}");
            figures.push(match value {
                Some(v) => Figure::measured(id, scope, what, v, unit, max),
                None => Figure::skipped(id, scope, what, unit, max, WHY),
            });
        }
        if let Some(run) = run {
            let converge_id = format!("{prefix}.instant.n{n}.converge_secs");
            let steady_id = format!("{prefix}.instant.n{n}.steady_calls_per_interval");
            for f in &mut figures {
                if f.id == converge_id && !run.converged {
                    f.verdict = report::Verdict::Fail;
                    f.note = "not every object became Ready before the timeout".into();
                }
                if f.id == steady_id {
                    f.note = format!("{:?}", run.steady_calls);
                }
            }
        }
    }
    let size = |n: usize| runs.and_then(|r| r.iter().find(|r| r.guests == n));
    let ratio_id = format!("{prefix}.instant.converge_ratio_1000_100");
    let ratio_what = "instant tasks: time for 1000 / time for 100";
    if let (Some(small), Some(large)) = (size(100), size(1000)) {
        figures.push(Figure::measured(
            ratio_id,
            scope,
            ratio_what,
            large.converge_secs / small.converge_secs.max(1e-9),
            "x",
            at_most(target::SCALING_RATIO),
        ));
    } else if runs.is_none() {
        figures.push(Figure::skipped(
            ratio_id,
            scope,
            ratio_what,
            "x",
            at_most(target::SCALING_RATIO),
            WHY,
        ));
    }
    figures
}

/// The figures of the pvectl runs.
pub fn cli_figures(run: &cli::CliRun) -> Vec<Figure> {
    let list = format!("vm list over {} guests", cli::LIST_GUESTS);
    let mut list_calls = Figure::measured(
        "pvectl.list.calls",
        PVECTL,
        format!("{list}: Proxmox calls"),
        run.list_calls as f64,
        "calls",
        at_most(target::LIST_CALLS),
    );
    if run.list_rows < cli::LIST_GUESTS as usize {
        list_calls.verdict = report::Verdict::Fail;
        list_calls = list_calls.note(format!("printed only {} rows", run.list_rows));
    }
    let floor = format!(
        "floor: plain script, {} VMs, {} threads, POST start=1 + task status",
        run.floor.guests,
        cli::AT_ONCE
    );
    let create = format!(
        "vm create --vmid N --start: {} invocations, {} at a time",
        run.create.guests,
        cli::AT_ONCE
    );
    let apply = format!("apply -f of {} manifests", run.apply.guests);
    let large = format!("apply -f of {} manifests", run.apply_large.guests);
    let floor_large = format!("floor: plain script, {} VMs", run.floor_large.guests);
    let mut figures = vec![
        list_calls,
        Figure::measured(
            "pvectl.list.wall_ms",
            PVECTL,
            format!("{list}: wall time (median of 5)"),
            run.list_wall_ms,
            "ms",
            None,
        ),
        Figure::measured(
            "pvectl.list.request_ms",
            PVECTL,
            format!("{list}: the same request from a fresh client"),
            run.list_request_ms,
            "ms",
            None,
        ),
        Figure::measured(
            "pvectl.list.overhead_ms",
            PVECTL,
            format!("{list}: CLI time beyond the call"),
            run.list_overhead_ms(),
            "ms",
            at_most(target::LIST_OVERHEAD_MS),
        ),
    ];
    let batches = [
        ("pvectl.floor", &floor, &run.floor),
        ("pvectl.create", &create, &run.create),
        ("pvectl.apply", &apply, &run.apply),
        ("pvectl.floor1000", &floor_large, &run.floor_large),
        ("pvectl.apply1000", &large, &run.apply_large),
    ];
    for (id, what, b) in batches {
        let mut wall = Figure::measured(
            format!("{id}.wall_secs"),
            PVECTL,
            format!("{what}: wall time"),
            b.wall_secs,
            "s",
            None,
        );
        if b.running != b.guests {
            wall.verdict = report::Verdict::Fail;
            wall = wall.note(format!(
                "only {}/{} guests running afterwards",
                b.running, b.guests
            ));
        }
        figures.push(wall);
        if id == "pvectl.apply" {
            figures.push(Figure::measured(
                "pvectl.apply.calls",
                PVECTL,
                format!("{what}: Proxmox calls"),
                b.requests as f64,
                "calls",
                None,
            ));
        }
        figures.push(
            Figure::measured(
                format!("{id}.calls_per_guest"),
                PVECTL,
                format!("{what}: Proxmox calls per guest"),
                b.per_guest(),
                "calls",
                None,
            )
            .note(format!("{:?}", b.by_request)),
        );
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
    for (id, what, b) in [
        ("pvectl.create", &create, &run.create),
        ("pvectl.apply", &apply, &run.apply),
    ] {
        figures.push(Figure::measured(
            format!("{id}.wall_ratio_floor"),
            PVECTL,
            format!("{what}: wall time / the floor's"),
            ratio(b.wall_secs, run.floor.wall_secs),
            "x",
            at_most(target::FLOOR_RATIO),
        ));
        figures.push(Figure::measured(
            format!("{id}.calls_ratio_floor"),
            PVECTL,
            format!("{what}: calls per guest / the floor's"),
            ratio(b.per_guest(), run.floor.per_guest()),
            "x",
            at_most(target::FLOOR_RATIO),
        ));
    }
    figures.push(
        Figure::measured(
            "pvectl.apply.wall_ratio_1000_100",
            PVECTL,
            format!("{large}: wall time / {apply}'s"),
            ratio(run.apply_large.wall_secs, run.apply.wall_secs),
            "x",
            at_most(target::SCALING_RATIO),
        )
        .note("compare pvectl.floor.wall_ratio_1000_100: how the fake itself scales"),
    );
    // No targets of their own: they say how much of the above is the fake's.
    figures.push(Figure::measured(
        "pvectl.floor.wall_ratio_1000_100",
        PVECTL,
        format!(
            "{floor_large}: wall time / the floor's of {}",
            run.floor.guests
        ),
        ratio(run.floor_large.wall_secs, run.floor.wall_secs),
        "x",
        None,
    ));
    figures.push(Figure::measured(
        "pvectl.apply1000.wall_ratio_floor",
        PVECTL,
        format!(
            "{large}: wall time / the floor's of {}",
            run.floor_large.guests
        ),
        ratio(run.apply_large.wall_secs, run.floor_large.wall_secs),
        "x",
        None,
    ));
    figures
}
