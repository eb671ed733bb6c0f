//! `step()` allocates nothing for a fixed number of groups: every registered
//! schedule (its registry example), as a pure [`Schedule`] over
//! [`ParamGroups`] and as a [`Scheduler`] over a real tch optimizer, is
//! stepped many times after a warm-up under a counting global allocator.
//!
//! The counter is per thread, so the tests of this binary may run in parallel.
//! It sees Rust's allocations only; libtorch's C++ setters allocate through
//! `malloc` directly.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tch::nn::{self, VarStore};
use tch_lr::config::Config;
use tch_lr::config::SchedulerConfig;
use tch_lr::groups::OptimizerKind;
use tch_lr::groups::ParamGroups;
use tch_lr::hyper::HyperParam;
use tch_lr::internals::tiny_var_store as tiny_vs;
use tch_lr::internals::Protocol as _;
use tch_lr::schedulers::PlainStep;
use tch_lr::schedulers::REGISTRY;
use tch_lr::{CosineAnnealingLR, CyclicLR, OneCycleLR, Optim, ReduceLROnPlateau, Schedule, StepLR};

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
        // SAFETY: the caller's contract for `alloc`, passed on to `System`.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract for `realloc` (`ptr` from this allocator, that is from `System`).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` (`ptr` from `System`, with `layout`).
        unsafe { System.dealloc(ptr, layout) }
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

/// Every registered schedule stepped without a metric, with its registry
/// example (the examples change state within a few steps: milestones,
/// restarts, cycles, phases).
fn chainable() -> Vec<(&'static str, SchedulerConfig)> {
    REGISTRY
        .iter()
        .filter(|s| !s.takes_metric)
        .map(|s| {
            let config = Config::from_yaml(&format!("scheduler: {}", s.example)).expect("registry example");
            (s.name, config.scheduler)
        })
        .collect()
}

/// How many steps `config` takes over `n` groups before it ends (OneCycleLR
/// refuses to step past its length), at most `WARM_UP + STEPS`.
fn length(config: &SchedulerConfig, n: usize) -> usize {
    let mut groups = ParamGroups::new(OptimizerKind::Sgd, &lrs(n), 0.9).expect("groups");
    let mut s = config.schedule().expect("schedule");
    s.init(&mut groups).expect("init");
    (0..WARM_UP + STEPS).take_while(|_| s.step(&mut groups).is_ok()).count()
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

fn optim(vs: &VarStore, n: usize) -> Optim {
    optim_of(vs, n, false)
}

/// tch's optimizer, or the owned one (its one-call write path).
fn optim_of(vs: &VarStore, n: usize, owned: bool) -> Optim {
    let sgd = nn::Sgd { momentum: 0.9, ..Default::default() };
    if owned { Optim::owned(sgd, vs, lrs(n)) } else { Optim::new(sgd, vs, lrs(n)) }.expect("optim")
}

/// Runs `step` WARM_UP times, then STEPS times counting allocations; returns the count.
fn counted(step: impl FnMut(usize)) -> u64 {
    counted_of(WARM_UP + STEPS, step)
}

/// Runs `step` `total` times (the first half at most WARM_UP of them as a
/// warm-up), counting the allocations of the steps after the warm-up.
fn counted_of(total: usize, mut step: impl FnMut(usize)) -> u64 {
    let warm = WARM_UP.min(total / 2);
    for k in 0..warm {
        step(k);
    }
    let before = allocs();
    for k in warm..total {
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
        for (name, config) in chainable() {
            let mut groups = ParamGroups::new(OptimizerKind::Sgd, &lrs(n), 0.9).expect("groups");
            let mut s = config.schedule().expect("schedule");
            s.init(&mut groups).expect("init");
            let a = counted_of(length(&config, n), |_| s.step(&mut groups).expect("step"));
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
fn scheduler_allocs<S: PlainStep>(s: S, vs: &VarStore, n: usize) -> u64 {
    let mut s = s.build(optim(vs, n)).expect("scheduler");
    counted(|_| s.step().expect("step"))
}

#[test]
fn schedulers_over_an_optimizer_do_not_allocate_in_step() {
    let mut found = Vec::new();
    for n in GROUPS {
        let vs = tiny_vs(n);
        for (name, config) in chainable() {
            // Boxed: `Scheduler<Box<dyn Schedule>>::step`, as configs build them.
            found.push((format!("{name}/{n} (boxed)"), {
                let mut s = config.schedule().expect("schedule").build(optim(&vs, n)).expect("scheduler");
                counted_of(length(&config, n), |_| s.step().expect("step"))
            }));
        }
        // The owned optimizer's write path (one call for every group).
        for (name, config) in chainable() {
            found.push((format!("{name}/{n} (owned optimizer)"), {
                let mut s = config.schedule().expect("schedule").build(optim_of(&vs, n, true)).expect("scheduler");
                counted_of(length(&config, n), |_| s.step().expect("step"))
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
        // DeepSpeed's OneCycle on the owned Adam: beta1 and beta2 through the write path.
        let adam = Optim::owned(nn::Adam::default(), &vs, lrs(n)).expect("optim");
        let one_cycle = tch_lr::deepspeed::OneCycle::new(l.clone(), times(&l, 10.0)).cycle_first_step_size(300);
        let mut s = one_cycle.build(adam).expect("scheduler");
        found.push((format!("deepspeed.OneCycle/{n} (owned Adam, betas)"), counted(|_| s.step().expect("step"))));
    }
    assert_none("Scheduler::step over a tch optimizer", found);
}

#[test]
fn a_loaded_scheduler_does_not_allocate_in_step() {
    // After `load_state` the scratch buffers are empty: the first step sizes
    // them (warm-up), later steps reuse them.
    let mut found = Vec::new();
    for (name, config) in chainable() {
        let n = 4;
        let vs = tiny_vs(n);
        let len = length(&config, n);
        let mut s = config.schedule().expect("schedule").build(optim(&vs, n)).expect("scheduler");
        let before_load = (len / 3).min(500);
        for _ in 0..before_load {
            s.step().expect("step");
        }
        let state = s.state().expect("state");
        let mut t = config.schedule().expect("schedule").build(optim(&vs, n)).expect("scheduler");
        t.load_state(state).expect("load");
        found.push((name.to_string(), counted_of(len - before_load, |_| t.step().expect("step"))));
    }
    assert_none("Scheduler::step after load_state", found);
}

/// The LR, weight decay and momentum scheduled together (every registered
/// schedule on the weight decay, a cosine on the momentum; then a plateau on
/// the weight decay beside a plateau on the LR): one step writes all three
/// and allocates nothing.
#[test]
fn weight_decay_and_momentum_schedules_do_not_allocate_in_step() {
    let mut found = Vec::new();
    for n in [1, 4] {
        let vs = tiny_vs(n);
        // Not a schedule that drives the weight decay itself (Megatron's): refused as a weight decay schedule.
        let plain = chainable().into_iter().filter(|(_, c)| !c.schedule().expect("schedule").schedules_weight_decay());
        for (name, config) in plain {
            let optim = optim(&vs, n).weight_decay(lrs(n)).expect("weight decay");
            let mut s = CosineAnnealingLR::new(300)
                .build(optim)
                .and_then(|s| s.with_schedule(HyperParam::WeightDecay, config.schedule().expect("schedule")))
                .and_then(|s| s.with_schedule(HyperParam::Momentum, CosineAnnealingLR::new(500)))
                .expect("scheduler");
            found.push((format!("{name}/{n}"), counted_of(length(&config, n), |_| s.step().expect("step"))));
        }
        let optim = optim(&vs, n).weight_decay(lrs(n)).expect("weight decay");
        let mut s = plateau().build(optim).and_then(|s| s.with_schedule(HyperParam::WeightDecay, plateau())).unwrap();
        found.push((format!("ReduceLROnPlateau/{n}"), counted(|k| s.step(metric(k)).expect("step"))));
        assert!(s.last_weight_decay().unwrap()[0] < 0.1 * 0.9, "the weight decay never fell");
    }
    assert_none("Scheduler::step with weight decay and momentum schedules", found);
}
