//! `flowday-local bench` (part), the planner: CPU time to plan one day of 10, 50 and 200 tasks
//! around 30 meetings (median of 501 runs, in process), and the score of the planner against the
//! greedy earliest-deadline-first baseline on the seeded corpus of 200 generated days (the corpus
//! test in `domain::planner` asserts the same). Reported in docs/performance.md.

use shared::domain::planner::{self, Score};

const CORPUS_SEED: u64 = 2026;
const CORPUS_DAYS: usize = 200;

pub fn planner() -> Result<(), String> {
    println!("\n## Planner\n");
    for tasks in [10, 50, 200] {
        let day = planner::bench_day(tasks, 30);
        let median = planner::bench(&day, 501);
        println!("- {tasks} tasks around 30 meetings: median {:.3} ms", median.as_secs_f64() * 1000.0);
    }
    let days = planner::corpus(CORPUS_SEED, CORPUS_DAYS);
    let (mut ours, mut baseline, mut broken) = (Score::default(), Score::default(), 0);
    let (mut better, mut equal, mut worse) = (0, 0, 0);
    for day in &days {
        let (plan, greedy) = (planner::plan(day), planner::baseline(day));
        broken += planner::violations(day, &plan).len();
        let (a, b) = (planner::score(day, &plan), planner::score(day, &greedy));
        match a.total.cmp(&b.total) {
            std::cmp::Ordering::Greater => better += 1,
            std::cmp::Ordering::Equal => equal += 1,
            std::cmp::Ordering::Less => worse += 1,
        }
        ours = add(ours, a);
        baseline = add(baseline, b);
    }
    println!(
        "- corpus of {CORPUS_DAYS} days (seed {CORPUS_SEED}): planner on-time {} / peak minutes {} / total {}; \
         baseline {} / {} / {}; better on {better} days, equal on {equal}, worse on {worse}; rules broken: {broken}",
        ours.on_time, ours.peak_minutes, ours.total, baseline.on_time, baseline.peak_minutes, baseline.total
    );
    if broken > 0 || ours.total <= baseline.total {
        return Err("the planner broke a rule or did not beat the baseline".into());
    }
    Ok(())
}

fn add(a: Score, b: Score) -> Score {
    Score { on_time: a.on_time + b.on_time, peak_minutes: a.peak_minutes + b.peak_minutes, total: a.total + b.total }
}
