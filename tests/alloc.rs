//! `step()` allocates nothing for a fixed number of groups: each of the 15
//! schedulers, as a pure [`Schedule`] over [`ParamGroups`] and as a
//! [`Scheduler`] over a real tch optimizer, is stepped many times after a
//! warm-up under a counting global allocator.
//!
//! The counter is per thread, so the tests of this binary may run in parallel.
//! It sees Rust's allocations only; libtorch's C++ setters allocate through
//! `malloc` directly.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tch::nn::{self, VarStore};
use tch::Device;
use tch_lr::{
    Chainable, ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, ExponentialLR,
    LambdaLR, LinearLR, MultiStepLR, MultiplicativeLR, OneCycleLR, Optim, OptimizerKind, ParamGroups, PolynomialLR,
    ReduceLROnPlateau, Schedule, ScheduleExt as _, SequentialLR, StepLR,
};

/// The system allocator, counting the allocations and reallocations of each thread.
struct Counting;

thread_local! {
    /// Allocations and reallocations made by this thread.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the slot may be gone while the thread exits.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocations this thread has made so far.
fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Steps before counting: the first steps may size scratch buffers.
const WARM_UP: usize = 50;
/// Steps counted. The schedules below cross milestones, restarts, cycle and
/// phase boundaries and plateau cuts within them.
const STEPS: usize = 5_000;
/// The group counts tested.
const GROUPS: [usize; 3] = [1, 4, 64];

/// The initial LR of group `i` of `n`: all different, so no write is shared.
fn lrs(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.1 * (1.0 + i as f64 / n as f64)).collect()
}

fn times(lrs: &[f64], k: f64) -> Vec<f64> {
    lrs.iter().map(|l| l * k).collect()
}

/// A chainable schedule built for the given initial LRs.
type Make = fn(&[f64]) -> Box<dyn Schedule>;

/// The 14 chainable schedulers, with parameters that make them change state
/// (milestones, restarts, cycles, phases) during the counted steps.
fn chainable() -> Vec<(&'static str, Make)> {
    vec![
        ("StepLR", |_| StepLR::new(100).gamma(0.9).boxed()),
        ("MultiStepLR", |_| MultiStepLR::new((1..=50).map(|k| 97 * k).collect::<Vec<i64>>()).gamma(0.99).boxed()),
        ("ConstantLR", |_| ConstantLR::new().factor(0.5).total_iters(1000).boxed()),
        ("LinearLR", |_| LinearLR::new().start_factor(0.1).total_iters(3000).boxed()),
        ("ExponentialLR", |_| ExponentialLR::new(0.9999).boxed()),
        ("PolynomialLR", |_| PolynomialLR::new().total_iters(3000).power(2.0).boxed()),
        ("CosineAnnealingLR", |_| CosineAnnealingLR::new(700).eta_min(1e-6).boxed()),
        ("LambdaLR", |_| LambdaLR::new(|e| 1.0 / (1.0 + 1e-3 * e as f64)).boxed()),
        ("MultiplicativeLR", |_| MultiplicativeLR::new(|_| 0.9999).boxed()),
        ("SequentialLR", |_| {
            SequentialLR::new(
                vec![
                    LinearLR::new().start_factor(0.01).total_iters(500).boxed(),
                    CosineAnnealingLR::new(1000).boxed(),
                    ExponentialLR::new(0.999).boxed(),
                ],
                vec![1000, 3000],
            )
            .boxed()
        }),
        ("ChainedScheduler", |_| {
            ChainedScheduler::new(vec![
                ConstantLR::new().factor(0.5).total_iters(1000).boxed(),
                ExponentialLR::new(0.9999).boxed(),
                CosineAnnealingWarmRestarts::new(300).boxed(),
            ])
            .boxed()
        }),
        ("CyclicLR", |l| CyclicLR::new(l.to_vec(), times(l, 10.0)).step_size_up(200).boxed()),
        ("OneCycleLR", |l| {
            OneCycleLR::new(times(l, 10.0)).total_steps((WARM_UP + STEPS + 1000) as i64).three_phase(true).boxed()
        }),
        ("CosineAnnealingWarmRestarts", |_| CosineAnnealingWarmRestarts::new(50).t_mult(2).eta_min(1e-6).boxed()),
    ]
}

/// `ReduceLROnPlateau`, cutting often: patience 3, cooldown 2.
fn plateau() -> ReduceLROnPlateau {
    ReduceLROnPlateau::new().patience(3).cooldown(2).factor(0.9)
}

/// A positive loss that falls for 20 steps, then stays flat for 20. (With a
/// negative best, PyTorch's `rel` threshold counts an equal metric as better.)
fn metric(k: usize) -> f64 {
    1e6 - (k / 40 * 20 + (k % 40).min(20)) as f64
}

/// A VarStore with `n` groups of one `[1]` parameter each.
fn tiny_vs(n: usize) -> VarStore {
    let vs = VarStore::new(Device::Cpu);
    for g in 0..n {
        let _ = vs.root().set_group(g).zeros(&format!("w{g}"), &[1]);
    }
    vs
}

fn optim(vs: &VarStore, n: usize) -> Optim {
    Optim::new(nn::Sgd { momentum: 0.9, ..Default::default() }, vs, lrs(n)).expect("optim")
}

/// Runs `step` WARM_UP times, then STEPS times counting allocations; returns the count.
fn counted(mut step: impl FnMut(usize)) -> u64 {
    for k in 0..WARM_UP {
        step(k);
    }
    let before = allocs();
    for k in WARM_UP..WARM_UP + STEPS {
        step(k);
    }
    allocs() - before
}

/// Asserts that no scheduler allocated, naming those that did.
fn assert_none(what: &str, found: Vec<(String, u64)>) {
    let bad: Vec<_> = found.into_iter().filter(|(_, n)| *n > 0).collect();
    assert!(bad.is_empty(), "{what}: allocations in {STEPS} steps after warm-up: {bad:?}");
}

#[test]
fn the_counter_counts() {
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 16]);
    assert_eq!(allocs() - before, 1);
    drop(v);
}

#[test]
fn pure_schedules_do_not_allocate_in_step() {
    let mut found = Vec::new();
    for n in GROUPS {
        for (name, make) in chainable() {
            let lrs = lrs(n);
            let mut groups = ParamGroups::new(OptimizerKind::Sgd, &lrs, 0.9).expect("groups");
            let mut s = make(&lrs);
            s.init(&mut groups).expect("init");
            let a = counted(|_| s.step(&mut groups).expect("step"));
            found.push((format!("{name}/{n}"), a));
        }
        let mut groups = ParamGroups::new(OptimizerKind::Sgd, &lrs(n), 0.9).expect("groups");
        let mut s = plateau();
        s.init(&mut groups).expect("init");
        let a = counted(|k| s.step_metric(&mut groups, metric(k)).expect("step"));
        assert!(s.last_lr()[0] < 0.1 * 0.9, "ReduceLROnPlateau never cut the LR: {:?}", s.last_lr());
        found.push((format!("ReduceLROnPlateau/{n}"), a));
    }
    assert_none("pure Schedule::step", found);
}

/// `Scheduler::step` for a chainable schedule, boxed or not.
fn scheduler_allocs<S: Chainable>(s: S, vs: &VarStore, n: usize) -> u64 {
    let mut s = s.build(optim(vs, n)).expect("scheduler");
    counted(|_| s.step().expect("step"))
}

#[test]
fn schedulers_over_an_optimizer_do_not_allocate_in_step() {
    let mut found = Vec::new();
    for n in GROUPS {
        let vs = tiny_vs(n);
        for (name, make) in chainable() {
            // Boxed: `Scheduler<Box<dyn Schedule>>::step`, as configs build them.
            found.push((format!("{name}/{n} (boxed)"), {
                let mut s = make(&lrs(n)).build(optim(&vs, n)).expect("scheduler");
                counted(|_| s.step().expect("step"))
            }));
        }
        // Concrete types: `Scheduler<S>::step`.
        let l = lrs(n);
        found.push((format!("StepLR/{n}"), scheduler_allocs(StepLR::new(100).gamma(0.9), &vs, n)));
        found.push((format!("CosineAnnealingLR/{n}"), scheduler_allocs(CosineAnnealingLR::new(700), &vs, n)));
        found.push((
            format!("CyclicLR/{n}"),
            scheduler_allocs(CyclicLR::new(l.clone(), times(&l, 10.0)).step_size_up(200), &vs, n),
        ));
        found.push((
            format!("OneCycleLR/{n}"),
            scheduler_allocs(OneCycleLR::new(times(&l, 10.0)).total_steps((WARM_UP + STEPS + 1000) as i64), &vs, n),
        ));
        let mut s = plateau().build(optim(&vs, n)).expect("scheduler");
        let a = counted(|k| s.step(metric(k)).expect("step"));
        assert!(s.last_lr()[0] < 0.1 * 0.9, "ReduceLROnPlateau never cut the LR: {:?}", s.last_lr());
        found.push((format!("ReduceLROnPlateau/{n}"), a));
    }
    assert_none("Scheduler::step over a tch optimizer", found);
}

#[test]
fn a_loaded_scheduler_does_not_allocate_in_step() {
    // After `load_state` the scratch buffers are empty: the first step sizes
    // them (warm-up), later steps reuse them.
    let mut found = Vec::new();
    for (name, make) in chainable() {
        let n = 4;
        let vs = tiny_vs(n);
        let mut s = make(&lrs(n)).build(optim(&vs, n)).expect("scheduler");
        for _ in 0..500 {
            s.step().expect("step");
        }
        let state = s.state().expect("state");
        let mut t = make(&lrs(n)).build(optim(&vs, n)).expect("scheduler");
        t.load_state(state).expect("load");
        found.push((name.to_string(), counted(|_| t.step().expect("step"))));
    }
    assert_none("Scheduler::step after load_state", found);
}
