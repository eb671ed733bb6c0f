//! Scheduler overhead: one `step()` of each of the 15 schedulers, including the
//! writes into a real tch optimizer, against the floor (the bare libtorch
//! setters) and, in `scripts/bench/pytorch.py`, against PyTorch's `step()`.
//!
//! Groups (criterion ids, read by `scripts/bench/table.py`):
//! - `step/<Scheduler>/<groups>`: `Scheduler::step()` over an SGD optimizer
//!   (momentum 0.9) on a VarStore with 1, 16 or 256 groups of one `[1]`
//!   parameter each, group `i` of `n` starting at LR `0.1 * (1 + i / n)` (every
//!   group has its own value, so no write can be shared).
//! - `floor/<setters>/<groups>`: the same optimizer, the bare tch setters alone:
//!   `set_lr_group` for every group, `set_lr_group` + `set_momentum_group` for
//!   every group, one `set_lr`, and `set_lr_group` for every group + one
//!   `set_momentum`.
//! - `step_owned/<Scheduler>/<groups>`: the same over the owned optimizer
//!   (`Optim::owned`), whose `sync` writes every group's values in one call.
//! - `floor_owned/write/<groups>`: the owned optimizer's write path alone
//!   (`internals::write_lrs`): `groups` new LRs in one call, a new value each
//!   step.
//! - `index/<Scheduler>/<step>`: one group, each scheduler at step 10 and at
//!   step 10,000,000. The late state is reached by stepping the pure schedule
//!   (no optimizer, no libtorch) 10,000,000 times over a `ParamGroups`, saving
//!   its state and loading it into the scheduler over the real optimizer with
//!   `load_state`. Both are reloaded every 10,000 steps outside the timing, so
//!   the measured steps stay within 10,000 of their start.
//! - `train_step/resnet20/<variant>`: one SGD training step of a ResNet-20
//!   (`src/bin/train_resnet/model.rs`; batch 32 of 3x32x32, CPU, one
//!   libtorch thread) without
//!   (`without`) and with (`with_OneCycleLR`) a `OneCycleLR` step after it, and
//!   the scheduler step alone, timed right after each of 30 training steps
//!   (`OneCycleLR_in_situ`, caches as training leaves them; printed, and
//!   written as JSON to `$BENCH_IN_SITU_OUT` when set).
//!
//! Run with `cargo bench --bench schedulers`; `scripts/bench/bench.sh` runs it with
//! PyTorch's side and writes `docs/benchmarks.md`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The training example's models (ResNet-20), shared with `src/bin/train_resnet`.
#[allow(dead_code)]
#[path = "../src/bin/train_resnet/model.rs"]
mod model;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use tch::nn::{self, ModuleT, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use tch_lr::deepspeed::{LRRangeTest, OneCycle, WarmupCosineLR, WarmupDecayLR, WarmupLR};
use tch_lr::groups::OptimizerKind;
use tch_lr::groups::ParamGroups;
use tch_lr::internals::tiny_var_store;
use tch_lr::internals::Protocol as _;
use tch_lr::megatron::{DecayStyle, OptimizerParamScheduler, WdIncrStyle};
use tch_lr::scheduler::SchedulerState;
use tch_lr::schedulers::PlainStep;
use tch_lr::schedulers::REGISTRY;
use tch_lr::timm::{
    CosineLRScheduler, MultiStepLRScheduler, PolyLRScheduler, StableFn, StepLRScheduler, TanhLRScheduler,
    WSDLRScheduler,
};
use tch_lr::transformers::{
    Constant, ConstantWithWarmup, Cosine, CosineWarmupWithMinLr, CosineWithMinLr, CosineWithRestarts, DecayType,
    InverseSqrt, Linear, Polynomial, WarmupStableDecay,
};
use tch_lr::{
    ChainedScheduler, ConstantLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, CyclicLR, ExponentialLR, LambdaLR,
    LinearLR, MultiStepLR, MultiplicativeLR, OneCycleLR, Optim, PolynomialLR, ReduceLROnPlateau, Schedule, Scheduler,
    SequentialLR, StepLR, SWA, SWALR,
};

/// The group counts measured.
const GROUPS: [usize; 3] = [1, 16, 256];

/// The steps of the index benchmark.
const INDEX_STEPS: [i64; 2] = [10, 10_000_000];

/// How many steps the index benchmark runs before reloading its start state.
const INDEX_PERIOD: u64 = 10_000;

/// The training steps after which the scheduler step is timed in situ.
const IN_SITU_STEPS: usize = 30;

/// `OneCycleLR`'s length in the step benchmark, and how many steps it runs
/// before reloading its initial state (it fails past its end).
const ONE_CYCLE_TOTAL: i64 = 100_000;
const ONE_CYCLE_PERIOD: u64 = 90_000;

/// The initial LR of group `i` of `n`: `0.1 * (1 + i / n)`.
fn lrs(n: usize) -> Vec<f64> {
    (0..n).map(|i| 0.1 * (1.0 + i as f64 / n as f64)).collect()
}

/// SGD with momentum 0.9, as in `scripts/bench/pytorch.py`.
fn sgd() -> nn::Sgd {
    nn::Sgd { momentum: 0.9, ..Default::default() }
}

/// Whether the step benchmark's schedulers run over the owned optimizer
/// (`step_owned/...`) rather than tch's (`step/...`).
static OWNED: AtomicBool = AtomicBool::new(false);

/// The step benchmark's optimizer over `vs`: tch's, or the owned one.
fn bench_optim(vs: &VarStore, lrs: Vec<f64>) -> Optim {
    if OWNED.load(Ordering::Relaxed) { Optim::owned(sgd(), vs, lrs) } else { Optim::new(sgd(), vs, lrs) }
        .expect("optim")
}

/// Something that takes `iters` steps and says how long they took.
trait Steps {
    /// Takes `iters` steps; returns the time they took, without any set-up.
    fn run(&mut self, iters: u64) -> Duration;
}

/// A scheduler over a real optimizer, optionally reloaded to a saved state
/// every `period` steps (outside the timing).
struct Sched<S> {
    /// The scheduler.
    s: Scheduler<S>,
    /// The variables the optimizer updates, kept alive.
    _vs: VarStore,
    /// The period and the state to reload.
    reset: Option<(u64, SchedulerState)>,
    /// Steps since the last reload.
    since: u64,
}

impl<S: PlainStep> Steps for Sched<S> {
    fn run(&mut self, iters: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let chunk = match &self.reset {
                Some((period, state)) => {
                    if self.since >= *period {
                        self.s.load_state(state.clone()).expect("reload");
                        self.since = 0;
                    }
                    (period - self.since).min(left)
                }
                None => left,
            };
            let t = Instant::now();
            for _ in 0..chunk {
                self.s.step().expect("step");
            }
            total += t.elapsed();
            self.since += chunk;
            left -= chunk;
        }
        total
    }
}

/// `ReduceLROnPlateau` fed a metric that improves at every step (`-k`), so
/// that it never cuts the LR (as in `scripts/bench/pytorch.py`).
struct Plateau {
    /// The scheduler.
    s: Scheduler<ReduceLROnPlateau>,
    /// The variables the optimizer updates, kept alive.
    _vs: VarStore,
    /// The step count, whose negation is the next metric.
    k: f64,
}

impl Steps for Plateau {
    fn run(&mut self, iters: u64) -> Duration {
        let t = Instant::now();
        for _ in 0..iters {
            self.k += 1.0;
            self.s.step(black_box(-self.k)).expect("step");
        }
        t.elapsed()
    }
}

/// The bare setters: what any scheduler must call at least when every group's
/// value changes.
struct Floor {
    /// A bare tch optimizer.
    opt: nn::Optimizer,
    /// Its variables, kept alive.
    _vs: VarStore,
    /// Each group's LR, written alternately times 1 and times 0.5.
    lrs: Vec<f64>,
    /// Which setters.
    kind: FloorKind,
}

/// The setters a floor calls at each step.
#[derive(Clone, Copy)]
enum FloorKind {
    /// `set_lr_group` for every group: a schedule that changes every group's LR.
    LrGroup,
    /// `set_lr_group` and `set_momentum_group` for every group: one that also
    /// cycles momentum (CyclicLR, OneCycleLR).
    LrGroupMomentumGroup,
    /// One `set_lr`: one LR shared by all groups.
    Lr,
    /// `set_lr_group` for every group and one `set_momentum`: what tch-lr
    /// writes for per-group LRs and a cycled momentum shared by all groups.
    LrGroupMomentum,
}

impl FloorKind {
    /// Every floor.
    const ALL: [FloorKind; 4] = [Self::LrGroup, Self::LrGroupMomentumGroup, Self::Lr, Self::LrGroupMomentum];

    /// The criterion id.
    fn name(self) -> &'static str {
        match self {
            Self::LrGroup => "set_lr_group",
            Self::LrGroupMomentumGroup => "set_lr_group+set_momentum_group",
            Self::Lr => "set_lr",
            Self::LrGroupMomentum => "set_lr_group+set_momentum",
        }
    }
}

impl Steps for Floor {
    fn run(&mut self, iters: u64) -> Duration {
        let opt = &mut self.opt;
        let lrs = &self.lrs;
        let t = Instant::now();
        for k in 0..iters {
            // A value that differs from step to step, as the scheduler's do.
            let f = if k & 1 == 0 { 1.0 } else { 0.5 };
            match self.kind {
                FloorKind::LrGroup => {
                    for (i, lr) in lrs.iter().enumerate() {
                        opt.set_lr_group(i, black_box(lr * f));
                    }
                }
                FloorKind::LrGroupMomentumGroup => {
                    for (i, lr) in lrs.iter().enumerate() {
                        opt.set_lr_group(i, black_box(lr * f));
                        opt.set_momentum_group(i, black_box(0.9 * f));
                    }
                }
                FloorKind::Lr => opt.set_lr(black_box(0.1 * f)),
                FloorKind::LrGroupMomentum => {
                    for (i, lr) in lrs.iter().enumerate() {
                        opt.set_lr_group(i, black_box(lr * f));
                    }
                    opt.set_momentum(black_box(0.9 * f));
                }
            }
        }
        t.elapsed()
    }
}

/// The owned optimizer's write path alone: `n` new LRs in one call.
struct OwnedFloor {
    opt: Optim,
    _vs: VarStore,
    /// The LRs written at even steps, and at odd ones (half).
    lrs: [Vec<f64>; 2],
}

impl Steps for OwnedFloor {
    fn run(&mut self, iters: u64) -> Duration {
        let t = Instant::now();
        for k in 0..iters {
            tch_lr::internals::write_lrs(&mut self.opt, black_box(&self.lrs[(k & 1) as usize])).expect("write");
        }
        t.elapsed()
    }
}

fn owned_floor(n: usize) -> Box<dyn Steps> {
    let vs = tiny_var_store(n);
    let l = lrs(n);
    let opt = Optim::owned(sgd(), &vs, l.clone()).expect("optim");
    Box::new(OwnedFloor { opt, _vs: vs, lrs: [l.clone(), times(&l, 0.5)] })
}

/// A floor over a bare optimizer with `n` groups.
fn floor(n: usize, kind: FloorKind) -> Box<dyn Steps> {
    let vs = tiny_var_store(n);
    let opt = sgd().build(&vs, 0.1).expect("optimizer");
    Box::new(Floor { opt, _vs: vs, lrs: lrs(n), kind })
}

/// Builds `make(lrs)` over a fresh optimizer with `n` groups.
fn sched<S: PlainStep + 'static>(n: usize, make: impl Fn(&[f64]) -> S, period: Option<u64>) -> Box<dyn Steps> {
    let vs = tiny_var_store(n);
    let lrs = lrs(n);
    let optim = bench_optim(&vs, lrs.clone());
    let s = make(&lrs).build(optim).expect("scheduler");
    let reset = period.map(|p| (p, s.state().expect("state")));
    Box::new(Sched { s, _vs: vs, reset, since: 0 })
}

/// The saved state of a pure schedule stepped over `groups`, as
/// `Scheduler::state` writes it, to load into a scheduler over a real optimizer.
fn saved(pure: &impl Schedule, groups: ParamGroups) -> SchedulerState {
    SchedulerState {
        format: 1,
        scheduler: pure.name().into(),
        groups,
        schedule: pure.state().expect("state"),
        hypers: Vec::new(),
    }
}

/// A scheduler at step `at`, reached by stepping the pure schedule and loading
/// its state; reloaded every [`INDEX_PERIOD`] steps.
fn sched_at<S: PlainStep + 'static>(n: usize, make: impl Fn(&[f64]) -> S, at: i64) -> Box<dyn Steps> {
    let lrs = lrs(n);
    let mut groups = ParamGroups::new(OptimizerKind::Sgd, &lrs, 0.9).expect("groups");
    let mut pure = make(&lrs);
    pure.init(&mut groups).expect("init");
    for _ in 0..at {
        pure.step(&mut groups).expect("pure step");
    }
    assert_eq!(pure.last_epoch(), at);
    let state = saved(&pure, groups);
    let vs = tiny_var_store(n);
    let optim = Optim::new(sgd(), &vs, lrs.clone()).expect("optim");
    let mut s = make(&lrs).build(optim).expect("scheduler");
    s.load_state(state.clone()).expect("load");
    assert_eq!(s.last_epoch(), at);
    Box::new(Sched { s, _vs: vs, reset: Some((INDEX_PERIOD, state)), since: 0 })
}

/// Each LR times `k`.
fn times(lrs: &[f64], k: f64) -> Vec<f64> {
    lrs.iter().map(|l| l * k).collect()
}

/// MultiStepLR's milestones: every 10,000 steps up to 10,000,000.
fn multistep_milestones() -> Vec<i64> {
    (1..=1000).map(|k| 10_000 * k).collect()
}

/// `StepLR(step_size=1_000_000, gamma=0.1)`: the LR stays, no write.
fn step_lr(_: &[f64]) -> StepLR {
    StepLR::new(1_000_000).gamma(0.1)
}
/// `MultiStepLR(milestones, gamma=0.999)`: the LR changes every 10,000 steps.
fn multistep(_: &[f64]) -> MultiStepLR {
    MultiStepLR::new(multistep_milestones()).gamma(0.999)
}
/// `ConstantLR(factor=0.5, total_iters=5)`: constant after step 5.
fn constant(_: &[f64]) -> ConstantLR {
    ConstantLR::new().factor(0.5).total_iters(5)
}
/// `LinearLR(start_factor=0.1, end_factor=1.0, total_iters=1e9)`: changes every step.
fn linear(_: &[f64]) -> LinearLR {
    LinearLR::new().start_factor(0.1).end_factor(1.0).total_iters(1_000_000_000)
}
/// `ExponentialLR(gamma=0.999999)`: changes every step.
fn exponential(_: &[f64]) -> ExponentialLR {
    ExponentialLR::new(0.999999)
}
/// `PolynomialLR(total_iters=1e9, power=2.0)`: changes every step.
fn polynomial(_: &[f64]) -> PolynomialLR {
    PolynomialLR::new().total_iters(1_000_000_000).power(2.0)
}
/// `CosineAnnealingLR(T_max=10_000, eta_min=1e-6)`: changes every step.
fn cosine(_: &[f64]) -> CosineAnnealingLR {
    CosineAnnealingLR::new(10_000).eta_min(1e-6)
}
/// `LambdaLR(lambda e: 1 / (1 + 1e-4 * e))`: changes every step.
fn lambda(_: &[f64]) -> LambdaLR {
    LambdaLR::new(|e| 1.0 / (1.0 + 1e-4 * e as f64))
}
/// `MultiplicativeLR(lambda e: 0.999999)`: changes every step.
fn multiplicative(_: &[f64]) -> MultiplicativeLR {
    MultiplicativeLR::new(|_| 0.999999)
}
/// `SequentialLR([LinearLR(0.01, total_iters=5), CosineAnnealingLR(10_000)], [5])`.
fn sequential(_: &[f64]) -> SequentialLR {
    SequentialLR::new(
        vec![LinearLR::new().start_factor(0.01).total_iters(5).boxed(), CosineAnnealingLR::new(10_000).boxed()],
        vec![5],
    )
}
/// `SWALR(swa_lr=1e-4, anneal_epochs=1_000_000_000)`: anneals every step.
fn swalr(_: &[f64]) -> SWALR {
    SWALR::new(1e-4).anneal_epochs(1_000_000_000)
}
/// PyTorch's SWA loop: `CosineAnnealingLR(10_000)`, then the `SWALR` above after step 5.
fn swa(lrs: &[f64]) -> SWA {
    SWA::new(CosineAnnealingLR::new(10_000).boxed(), swalr(lrs).boxed(), 5)
}
/// `ChainedScheduler([ConstantLR(0.5, total_iters=5), ExponentialLR(0.999999)])`.
fn chained(_: &[f64]) -> ChainedScheduler {
    ChainedScheduler::new(vec![
        ConstantLR::new().factor(0.5).total_iters(5).boxed(),
        ExponentialLR::new(0.999999).boxed(),
    ])
}
/// `CyclicLR(base_lr=lrs, max_lr=10 * lrs, step_size_up=2000)`: LR and momentum change every step.
fn cyclic(lrs: &[f64]) -> CyclicLR {
    CyclicLR::new(lrs.to_vec(), times(lrs, 10.0)).step_size_up(2000)
}
/// `OneCycleLR(max_lr=10 * lrs, total_steps=100_000)`: LR and momentum change every step.
fn one_cycle(lrs: &[f64]) -> OneCycleLR {
    OneCycleLR::new(times(lrs, 10.0)).total_steps(ONE_CYCLE_TOTAL)
}
/// `OneCycleLR(max_lr=10 * lrs, total_steps=20_000_000)`, for the index benchmark.
fn one_cycle_long(lrs: &[f64]) -> OneCycleLR {
    OneCycleLR::new(times(lrs, 10.0)).total_steps(20_000_000)
}
/// `CosineAnnealingWarmRestarts(T_0=1000, T_mult=2, eta_min=1e-6)`: changes every step.
fn warm_restarts(_: &[f64]) -> CosineAnnealingWarmRestarts {
    CosineAnnealingWarmRestarts::new(1000).T_mult(2).eta_min(1e-6)
}

/// transformers' warmup length in the benchmarks.
const HF_WARMUP: i64 = 1000;
/// transformers' `num_training_steps` in the benchmarks: the LR changes at
/// every step and the schedule never ends.
const HF_TOTAL: i64 = 100_000_000;

/// `get_scheduler("linear", num_warmup_steps=1000, num_training_steps=1e8)`.
fn hf_linear(_: &[f64]) -> Linear {
    Linear::new().num_warmup_steps(HF_WARMUP).num_training_steps(HF_TOTAL)
}
/// `get_scheduler("cosine", num_warmup_steps=1000, num_training_steps=1e8)`.
fn hf_cosine(_: &[f64]) -> Cosine {
    Cosine::new().num_warmup_steps(HF_WARMUP).num_training_steps(HF_TOTAL)
}
/// `get_scheduler("cosine_with_restarts", 1000, 1e8, {"num_cycles": 3})`.
fn hf_cosine_with_restarts(_: &[f64]) -> CosineWithRestarts {
    CosineWithRestarts::new().num_warmup_steps(HF_WARMUP).num_training_steps(HF_TOTAL).num_cycles(3.0)
}
/// `get_scheduler("polynomial", 1000, 1e8, {"lr_end": 1e-7, "power": 2.0})`.
fn hf_polynomial(_: &[f64]) -> Polynomial {
    Polynomial::new().num_warmup_steps(HF_WARMUP).num_training_steps(HF_TOTAL).lr_end(1e-7).power(2.0)
}
/// `get_scheduler("constant")`: the LR stays, no write.
fn hf_constant(_: &[f64]) -> Constant {
    Constant::new()
}
/// `get_scheduler("constant_with_warmup", num_warmup_steps=1e8)`: a warmup that changes every step.
fn hf_constant_with_warmup(_: &[f64]) -> ConstantWithWarmup {
    ConstantWithWarmup::new().num_warmup_steps(HF_TOTAL)
}
/// `get_scheduler("inverse_sqrt", num_warmup_steps=1000)`: changes every step.
fn hf_inverse_sqrt(_: &[f64]) -> InverseSqrt {
    InverseSqrt::new().num_warmup_steps(HF_WARMUP)
}
/// `get_scheduler("cosine_with_min_lr", 1000, 1e8, {"min_lr_rate": 0.1})`.
fn hf_cosine_with_min_lr(_: &[f64]) -> CosineWithMinLr {
    CosineWithMinLr::new().num_warmup_steps(HF_WARMUP).num_training_steps(HF_TOTAL).min_lr_rate(0.1)
}
/// `get_scheduler("cosine_warmup_with_min_lr", 1000, 1e8, {"min_lr_rate": 0.1})`.
fn hf_cosine_warmup_with_min_lr(_: &[f64]) -> CosineWarmupWithMinLr {
    CosineWarmupWithMinLr::new().num_warmup_steps(HF_WARMUP).num_training_steps(HF_TOTAL).min_lr_rate(0.1)
}
/// `get_scheduler("warmup_stable_decay", 1000, {"num_decay_steps": 1e8, "num_stable_steps": 0,
/// "decay_type": "1-sqrt", "min_lr_ratio": 0.1})`: decays at every step.
fn hf_warmup_stable_decay(_: &[f64]) -> WarmupStableDecay {
    WarmupStableDecay::new(HF_TOTAL)
        .num_warmup_steps(HF_WARMUP)
        .num_stable_steps(0)
        .decay_type(DecayType::OneMinusSqrt)
        .min_lr_ratio(0.1)
}

/// timm's `t_initial` in the benchmarks, with `cycle_limit` high enough that
/// the cycles never end: the LR changes at every step.
const TIMM_T: i64 = 10_000;
/// timm's `cycle_limit` in the benchmarks.
const TIMM_CYCLES: i64 = 1_000_000;

/// `CosineLRScheduler(t_initial=10_000, lr_min=1e-6, cycle_limit=1e6)`, stepped with `step(t)`.
fn timm_cosine(_: &[f64]) -> CosineLRScheduler {
    CosineLRScheduler::new(TIMM_T).lr_min(1e-6).cycle_limit(TIMM_CYCLES)
}
/// `TanhLRScheduler(t_initial=10_000, lr_min=1e-6, cycle_limit=1e6)`.
fn timm_tanh(_: &[f64]) -> TanhLRScheduler {
    TanhLRScheduler::new(TIMM_T).lr_min(1e-6).cycle_limit(TIMM_CYCLES)
}
/// `StepLRScheduler(decay_t=1.0, decay_rate=0.999999)`: changes every step.
fn timm_step(_: &[f64]) -> StepLRScheduler {
    StepLRScheduler::new(1.0).decay_rate(0.999999)
}
/// `MultiStepLRScheduler(decay_t, decay_rate=0.999)`: the LR changes every 10,000 steps.
fn timm_multistep(_: &[f64]) -> MultiStepLRScheduler {
    MultiStepLRScheduler::new(multistep_milestones()).decay_rate(0.999)
}
/// `PolyLRScheduler(t_initial=1e9, power=2.0, lr_min=1e-6)`: changes every step.
fn timm_poly(_: &[f64]) -> PolyLRScheduler {
    PolyLRScheduler::new(1_000_000_000).power(2.0).lr_min(1e-6)
}
/// `WSDLRScheduler(t_initial=1e9, decay_t=5e8, stable_fn='rsqrt', stable_timescale=10_000.0)`:
/// the rsqrt stable phase changes every step.
fn timm_wsd(_: &[f64]) -> WSDLRScheduler {
    WSDLRScheduler::new(1_000_000_000, 500_000_000).stable_fn(StableFn::Rsqrt).stable_timescale(10_000.0)
}

/// DeepSpeed's schedules, long enough that the LR changes at every step of a
/// benchmark: `LRRangeTest(lr_range_test_min_lr=lrs, lr_range_test_step_size=1000)`.
fn ds_range_test(lrs: &[f64]) -> LRRangeTest {
    LRRangeTest::new().lr_range_test_min_lr(lrs.to_vec()).lr_range_test_step_size(1000)
}
/// `OneCycle(cycle_min_lr=lrs, cycle_max_lr=10 * lrs, cycle_first_step_size=10_000,
/// decay_step_size=1000, decay_lr_rate=0.001)`: the cycle, then a decay at every step.
fn ds_one_cycle(lrs: &[f64]) -> OneCycle {
    OneCycle::new(lrs.to_vec(), times(lrs, 10.0))
        .cycle_first_step_size(10_000)
        .decay_step_size(1000)
        .decay_lr_rate(0.001)
}
/// `WarmupLR(warmup_num_steps=1e9)`: a log warmup to each group's LR.
fn ds_warmup(_: &[f64]) -> WarmupLR {
    WarmupLR::new().warmup_num_steps(1_000_000_000)
}
/// `WarmupDecayLR(total_num_steps=1e9, warmup_max_lr=lrs, warmup_num_steps=1000)`.
fn ds_warmup_decay(lrs: &[f64]) -> WarmupDecayLR {
    WarmupDecayLR::new(1_000_000_000).warmup_max_lr(Some(lrs.to_vec().into())).warmup_num_steps(1000)
}
/// `WarmupCosineLR(total_num_steps=1e9, warmup_num_steps=1000)`.
fn ds_warmup_cosine(_: &[f64]) -> WarmupCosineLR {
    WarmupCosineLR::new(1_000_000_000).warmup_num_steps(1000)
}
/// Megatron-core's `OptimizerParamScheduler(init_lr=0.0, max_lr=each group's LR,
/// min_lr=1e-6, lr_warmup_steps=1000, lr_decay_steps=1e12, lr_decay_style='cosine',
/// start_wd=0.0, end_wd=0.1, wd_incr_steps=1e12, wd_incr_style='linear')`, stepped with
/// `step(1)`: the LR and every group's weight decay change every step.
fn megatron(lrs: &[f64]) -> OptimizerParamScheduler {
    let long: i64 = 1_000_000_000_000;
    OptimizerParamScheduler::new(
        0.0,
        lrs.to_vec(),
        1e-6,
        1000,
        long,
        DecayStyle::Cosine,
        0.0,
        0.1,
        long,
        WdIncrStyle::Linear,
    )
}

/// `ReduceLROnPlateau()` with PyTorch's defaults over `n` groups.
fn plateau(n: usize) -> Box<dyn Steps> {
    let vs = tiny_var_store(n);
    let optim = bench_optim(&vs, lrs(n));
    let s = ReduceLROnPlateau::new().build(optim).expect("scheduler");
    Box::new(Plateau { s, _vs: vs, k: 0.0 })
}

/// `ReduceLROnPlateau` over one group at step `at`, reached by stepping the
/// pure schedule and loading its state (it needs no reload: the metric keeps
/// improving and the LR stays).
fn plateau_at(at: i64) -> Box<dyn Steps> {
    let lrs = lrs(1);
    let mut groups = ParamGroups::new(OptimizerKind::Sgd, &lrs, 0.9).expect("groups");
    let mut pure = ReduceLROnPlateau::new();
    pure.init(&mut groups).expect("init");
    for k in 1..=at {
        pure.step_metric(&mut groups, -(k as f64)).expect("pure step");
    }
    assert_eq!(pure.last_epoch(), at);
    let state = saved(&pure, groups);
    let vs = tiny_var_store(1);
    let optim = Optim::new(sgd(), &vs, lrs).expect("optim");
    let mut s = ReduceLROnPlateau::new().build(optim).expect("scheduler");
    s.load_state(state).expect("load");
    assert_eq!(s.last_epoch(), at);
    Box::new(Plateau { s, _vs: vs, k: at as f64 })
}

/// A benchmark's name and how to build it for a group count.
type StepCase = (&'static str, fn(usize) -> Box<dyn Steps>);

/// A benchmark's name and how to build it at a step.
type IndexCase = (&'static str, fn(i64) -> Box<dyn Steps>);

/// Every registered schedule, in the registry's order: the step benchmark.
fn step_cases() -> Vec<StepCase> {
    vec![
        ("StepLR", |n| sched(n, step_lr, None)),
        ("MultiStepLR", |n| sched(n, multistep, None)),
        ("ConstantLR", |n| sched(n, constant, None)),
        ("LinearLR", |n| sched(n, linear, None)),
        ("ExponentialLR", |n| sched(n, exponential, None)),
        ("PolynomialLR", |n| sched(n, polynomial, None)),
        ("CosineAnnealingLR", |n| sched(n, cosine, None)),
        ("LambdaLR", |n| sched(n, lambda, None)),
        ("MultiplicativeLR", |n| sched(n, multiplicative, None)),
        ("SequentialLR", |n| sched(n, sequential, None)),
        ("ChainedScheduler", |n| sched(n, chained, None)),
        ("ReduceLROnPlateau", plateau),
        ("CyclicLR", |n| sched(n, cyclic, None)),
        ("OneCycleLR", |n| sched(n, one_cycle, Some(ONE_CYCLE_PERIOD))),
        ("CosineAnnealingWarmRestarts", |n| sched(n, warm_restarts, None)),
        ("SWALR", |n| sched(n, swalr, None)),
        ("SWA", |n| sched(n, swa, None)),
        ("transformers.linear", |n| sched(n, hf_linear, None)),
        ("transformers.cosine", |n| sched(n, hf_cosine, None)),
        ("transformers.cosine_with_restarts", |n| sched(n, hf_cosine_with_restarts, None)),
        ("transformers.polynomial", |n| sched(n, hf_polynomial, None)),
        ("transformers.constant", |n| sched(n, hf_constant, None)),
        ("transformers.constant_with_warmup", |n| sched(n, hf_constant_with_warmup, None)),
        ("transformers.inverse_sqrt", |n| sched(n, hf_inverse_sqrt, None)),
        ("transformers.cosine_with_min_lr", |n| sched(n, hf_cosine_with_min_lr, None)),
        ("transformers.cosine_warmup_with_min_lr", |n| sched(n, hf_cosine_warmup_with_min_lr, None)),
        ("transformers.warmup_stable_decay", |n| sched(n, hf_warmup_stable_decay, None)),
        // transformers step cases
        ("timm.CosineLRScheduler", |n| sched(n, timm_cosine, None)),
        ("timm.TanhLRScheduler", |n| sched(n, timm_tanh, None)),
        ("timm.StepLRScheduler", |n| sched(n, timm_step, None)),
        ("timm.MultiStepLRScheduler", |n| sched(n, timm_multistep, None)),
        ("timm.PolyLRScheduler", |n| sched(n, timm_poly, None)),
        ("timm.WSDLRScheduler", |n| sched(n, timm_wsd, None)),
        // timm step cases
        // DeepSpeed step cases (issue 25)
        ("deepspeed.LRRangeTest", |n| sched(n, ds_range_test, None)),
        ("deepspeed.OneCycle", |n| sched(n, ds_one_cycle, None)),
        ("deepspeed.WarmupLR", |n| sched(n, ds_warmup, None)),
        ("deepspeed.WarmupDecayLR", |n| sched(n, ds_warmup_decay, None)),
        ("deepspeed.WarmupCosineLR", |n| sched(n, ds_warmup_cosine, None)),
        // Megatron-core (issue 25).
        ("megatron.OptimizerParamScheduler", |n| sched(n, megatron, None)),
    ]
}

/// Every registered schedule, in the registry's order: the index benchmark (1 group).
fn index_cases() -> Vec<IndexCase> {
    vec![
        ("StepLR", |at| sched_at(1, step_lr, at)),
        ("MultiStepLR", |at| sched_at(1, multistep, at)),
        ("ConstantLR", |at| sched_at(1, constant, at)),
        ("LinearLR", |at| sched_at(1, linear, at)),
        ("ExponentialLR", |at| sched_at(1, exponential, at)),
        ("PolynomialLR", |at| sched_at(1, polynomial, at)),
        ("CosineAnnealingLR", |at| sched_at(1, cosine, at)),
        ("LambdaLR", |at| sched_at(1, lambda, at)),
        ("MultiplicativeLR", |at| sched_at(1, multiplicative, at)),
        ("SequentialLR", |at| sched_at(1, sequential, at)),
        ("ChainedScheduler", |at| sched_at(1, chained, at)),
        ("ReduceLROnPlateau", plateau_at),
        ("CyclicLR", |at| sched_at(1, cyclic, at)),
        ("OneCycleLR", |at| sched_at(1, one_cycle_long, at)),
        ("CosineAnnealingWarmRestarts", |at| sched_at(1, warm_restarts, at)),
        ("SWALR", |at| sched_at(1, swalr, at)),
        ("SWA", |at| sched_at(1, swa, at)),
        ("transformers.linear", |at| sched_at(1, hf_linear, at)),
        ("transformers.cosine", |at| sched_at(1, hf_cosine, at)),
        ("transformers.cosine_with_restarts", |at| sched_at(1, hf_cosine_with_restarts, at)),
        ("transformers.polynomial", |at| sched_at(1, hf_polynomial, at)),
        ("transformers.constant", |at| sched_at(1, hf_constant, at)),
        ("transformers.constant_with_warmup", |at| sched_at(1, hf_constant_with_warmup, at)),
        ("transformers.inverse_sqrt", |at| sched_at(1, hf_inverse_sqrt, at)),
        ("transformers.cosine_with_min_lr", |at| sched_at(1, hf_cosine_with_min_lr, at)),
        ("transformers.cosine_warmup_with_min_lr", |at| sched_at(1, hf_cosine_warmup_with_min_lr, at)),
        ("transformers.warmup_stable_decay", |at| sched_at(1, hf_warmup_stable_decay, at)),
        // transformers index cases
        ("timm.CosineLRScheduler", |at| sched_at(1, timm_cosine, at)),
        ("timm.TanhLRScheduler", |at| sched_at(1, timm_tanh, at)),
        ("timm.StepLRScheduler", |at| sched_at(1, timm_step, at)),
        ("timm.MultiStepLRScheduler", |at| sched_at(1, timm_multistep, at)),
        ("timm.PolyLRScheduler", |at| sched_at(1, timm_poly, at)),
        ("timm.WSDLRScheduler", |at| sched_at(1, timm_wsd, at)),
        // timm index cases
        // DeepSpeed index cases (issue 25)
        ("deepspeed.LRRangeTest", |at| sched_at(1, ds_range_test, at)),
        ("deepspeed.OneCycle", |at| sched_at(1, ds_one_cycle, at)),
        ("deepspeed.WarmupLR", |at| sched_at(1, ds_warmup, at)),
        ("deepspeed.WarmupDecayLR", |at| sched_at(1, ds_warmup_decay, at)),
        ("deepspeed.WarmupCosineLR", |at| sched_at(1, ds_warmup_cosine, at)),
        // Megatron-core (issue 25).
        ("megatron.OptimizerParamScheduler", |at| sched_at(1, megatron, at)),
    ]
}

/// The bench cases must be the registry's schedules, in its order (the test
/// `tests/schedules/registry.rs` checks this file's lists too).
fn check_cases<T>(cases: &[(&'static str, T)]) {
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let registered: Vec<&str> = REGISTRY.iter().map(|s| s.name).collect();
    assert_eq!(names, registered, "benches/schedulers.rs: one case per registered schedule");
}

/// `step/<Scheduler>/<groups>`.
fn bench_steps(c: &mut Criterion) {
    let mut g = c.benchmark_group("step");
    let cases = step_cases();
    check_cases(&cases);
    for (name, make) in cases {
        for n in GROUPS {
            let mut b = make(n);
            g.bench_function(BenchmarkId::new(name, n), |bench| bench.iter_custom(|iters| b.run(iters)));
        }
    }
    g.finish();
}

/// `step_owned/<Scheduler>/<groups>`: the step benchmark over the owned optimizer.
fn bench_steps_owned(c: &mut Criterion) {
    OWNED.store(true, Ordering::Relaxed);
    let mut g = c.benchmark_group("step_owned");
    for (name, make) in step_cases() {
        for n in GROUPS {
            let mut b = make(n);
            g.bench_function(BenchmarkId::new(name, n), |bench| bench.iter_custom(|iters| b.run(iters)));
        }
    }
    g.finish();
    OWNED.store(false, Ordering::Relaxed);
}

/// `floor_owned/write/<groups>`.
fn bench_floor_owned(c: &mut Criterion) {
    let mut g = c.benchmark_group("floor_owned");
    for n in GROUPS {
        let mut b = owned_floor(n);
        g.bench_function(BenchmarkId::new("write", n), |bench| bench.iter_custom(|iters| b.run(iters)));
    }
    g.finish();
}

/// `floor/<setters>/<groups>`.
fn bench_floor(c: &mut Criterion) {
    let mut g = c.benchmark_group("floor");
    for kind in FloorKind::ALL {
        for n in GROUPS {
            let mut b = floor(n, kind);
            g.bench_function(BenchmarkId::new(kind.name(), n), |bench| bench.iter_custom(|iters| b.run(iters)));
        }
    }
    g.finish();
}

/// `index/<Scheduler>/<step>`.
fn bench_index(c: &mut Criterion) {
    let mut g = c.benchmark_group("index");
    let cases = index_cases();
    check_cases(&cases);
    for (name, make) in cases {
        for at in INDEX_STEPS {
            let mut b = make(at);
            g.bench_function(BenchmarkId::new(name, at), |bench| bench.iter_custom(|iters| b.run(iters)));
        }
    }
    g.finish();
}

/// `train_step/resnet20/<variant>`.
fn bench_train_step(c: &mut Criterion) {
    // One intra-op thread: on a small shared machine libtorch's spinning
    // worker threads make two-thread timings erratic.
    tch::set_num_threads(1);
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| v != "0");
    let mut g = c.benchmark_group("train_step");
    g.sample_size(10).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(if quick {
        1
    } else {
        4
    }));
    let vs = VarStore::new(Device::Cpu);
    let net = model::resnet20(&vs.root(), 10);
    let optim = Optim::new(nn::Sgd { momentum: 0.9, wd: 5e-4, ..Default::default() }, &vs, 0.1).expect("optim");
    let mut sched = OneCycleLR::new(0.1).total_steps(1_000_000_000).build(optim).expect("scheduler");
    let x = Tensor::randn([32, 3, 32, 32], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [32], (Kind::Int64, Device::Cpu));
    let train = |sched: &mut Scheduler<OneCycleLR>| {
        let loss = net.forward_t(&x, true).cross_entropy_for_logits(&y);
        sched.optimizer_mut().backward_step(&loss);
    };
    for _ in 0..3 {
        train(&mut sched);
        sched.step().expect("step");
    }
    g.bench_function(BenchmarkId::new("resnet20", "without"), |b| b.iter(|| train(&mut sched)));
    g.bench_function(BenchmarkId::new("resnet20", "with_OneCycleLR"), |b| {
        b.iter(|| {
            train(&mut sched);
            sched.step().expect("step");
        })
    });
    g.finish();
    // The scheduler step alone, right after a training step. Not a criterion
    // benchmark: criterion would size its runs by the timed part alone.
    let mut in_situ: Vec<f64> = (0..IN_SITU_STEPS)
        .map(|_| {
            train(&mut sched);
            let t = Instant::now();
            sched.step().expect("step");
            t.elapsed().as_nanos() as f64
        })
        .collect();
    in_situ.sort_by(f64::total_cmp);
    let median = in_situ[in_situ.len() / 2];
    println!("train_step/resnet20/OneCycleLR_in_situ: median {median:.0} ns over {IN_SITU_STEPS} training steps");
    if let Some(path) = std::env::var_os("BENCH_IN_SITU_OUT") {
        let json = format!("{{\"median_ns\": {median}, \"steps\": {IN_SITU_STEPS}, \"ns\": {in_situ:?}}}\n");
        std::fs::write(&path, json).expect("write BENCH_IN_SITU_OUT");
    }
}

/// Short runs: the whole benchmark takes a few minutes.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50)
        .without_plots()
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_steps, bench_floor, bench_steps_owned, bench_floor_owned, bench_index, bench_train_step
}
criterion_main!(benches);
