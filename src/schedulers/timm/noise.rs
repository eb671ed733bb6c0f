//! timm's LR noise, bit for bit: a pure-Rust port of PyTorch's CPU generator
//! (`torch.Generator()`: mt19937 with its cached normal sample), so that the
//! noise neither needs nor disturbs libtorch's global RNG (`tch::manual_seed`).

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::config::kwargs::{finite, from_serde, Diag, KwargValue, Seg};
use crate::error::{Error, Result};

/// The mt19937 state size.
const N: usize = 624;
/// The mt19937 shift.
const M: usize = 397;

/// PyTorch's CPU generator (`at::CPUGeneratorImpl`): the Mersenne Twister
/// mt19937 seeded with the low 32 bits of the seed, plus the cached second
/// sample of the last Box–Muller pair that `torch.randn` draws.
///
/// Only what timm's noise uses: [`manual_seed`](Self::manual_seed),
/// [`randn1`](Self::randn1) (`torch.randn(1, generator=g).item()`) and
/// [`rand1`](Self::rand1) (`torch.rand(1, generator=g).item()`). The state
/// lives on the stack: no allocation.
///
/// ```
/// use tch_lr::internals::TorchGenerator; // with the `internals` feature
///
/// // g = torch.Generator(); g.manual_seed(5); torch.randn(1, generator=g).item()
/// let mut g = TorchGenerator::new(5);
/// assert_eq!(g.randn1(), -0.4867807626724243);
/// ```
#[derive(Clone)]
pub struct TorchGenerator {
    state: [u32; N],
    /// The next word of `state` to temper.
    next: usize,
    /// `next_double_normal_sample_`: `r * sin(theta)` of the last pair.
    normal: Option<f64>,
}

impl std::fmt::Debug for TorchGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorchGenerator").field("next", &self.next).field("normal", &self.normal).finish_non_exhaustive()
    }
}

impl TorchGenerator {
    /// `g = torch.Generator(); g.manual_seed(seed)`. A negative seed is taken
    /// as its two's complement, as PyTorch does.
    pub fn new(seed: u64) -> Self {
        let mut g = TorchGenerator { state: [0; N], next: N, normal: None };
        g.manual_seed(seed);
        g
    }

    /// `g.manual_seed(seed)`: mt19937 seeded with `seed & 0xffffffff`, the
    /// cached normal sample dropped.
    pub fn manual_seed(&mut self, seed: u64) {
        self.state[0] = seed as u32;
        for j in 1..N {
            let prev = self.state[j - 1];
            self.state[j] = 1_812_433_253u32.wrapping_mul(prev ^ (prev >> 30)).wrapping_add(j as u32);
        }
        self.next = N;
        self.normal = None;
    }

    /// The next 32-bit word (`random()`).
    pub fn random(&mut self) -> u32 {
        if self.next >= N {
            self.twist();
        }
        let mut y = self.state[self.next];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// Two words, the first the high half (`random64()`).
    pub fn random64(&mut self) -> u64 {
        let hi = self.random();
        let lo = self.random();
        (u64::from(hi) << 32) | u64::from(lo)
    }

    /// `torch.randn(1, generator=g).item()`: one standard normal sample by
    /// Box–Muller in `f64`, rounded to `f32` (randn's dtype). Each pair's
    /// second sample is kept for the next call.
    pub fn randn1(&mut self) -> f64 {
        let z = match self.normal.take() {
            Some(z) => z,
            None => {
                let u1 = uniform53(self.random64());
                let u2 = uniform53(self.random64());
                let r = (-2.0 * (-u2).ln_1p()).sqrt();
                let theta = 2.0 * PI * u1;
                self.normal = Some(r * theta.sin());
                r * theta.cos()
            }
        };
        f64::from(z as f32)
    }

    /// `torch.rand(1, generator=g).item()`: 24 random bits scaled to `[0, 1)`.
    #[cfg_attr(not(feature = "internals"), allow(dead_code))]
    pub fn rand1(&mut self) -> f64 {
        let x = (self.random() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0);
        f64::from(x)
    }

    /// Regenerates the state (mt19937's twist).
    fn twist(&mut self) {
        let s = &mut self.state;
        let mix = |u: u32, v: u32| {
            let y = (u & 0x8000_0000) | (v & 0x7fff_ffff);
            (y >> 1) ^ if v & 1 != 0 { 0x9908_b0df } else { 0 }
        };
        for i in 0..N - M {
            s[i] = s[i + M] ^ mix(s[i], s[i + 1]);
        }
        for i in N - M..N - 1 {
            s[i] = s[i + M - N] ^ mix(s[i], s[i + 1]);
        }
        s[N - 1] = s[M - 1] ^ mix(s[N - 1], s[0]);
        self.next = 0;
    }
}

/// `uniform_real_distribution<double>(0, 1)`: the low 53 bits times 2^-53.
fn uniform53(x: u64) -> f64 {
    (x & ((1u64 << 53) - 1)) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// timm's `noise_range_t`: from which `t` on, or for which `t`, the LR is noisy.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a number t0 (noise for t >= t0) or a list [t0, t1] (noise for t0 <= t < t1)")]
pub enum NoiseRange {
    /// `noise_range_t: t0`: noise for every `t >= t0`.
    From(f64),
    /// `noise_range_t: [t0, t1]`: noise for `t0 <= t < t1`.
    Between(f64, f64),
}

impl From<f64> for NoiseRange {
    fn from(t0: f64) -> Self {
        NoiseRange::From(t0)
    }
}

impl From<i64> for NoiseRange {
    fn from(t0: i64) -> Self {
        NoiseRange::From(t0 as f64)
    }
}

impl From<[f64; 2]> for NoiseRange {
    fn from([t0, t1]: [f64; 2]) -> Self {
        NoiseRange::Between(t0, t1)
    }
}

impl From<[i64; 2]> for NoiseRange {
    fn from([t0, t1]: [i64; 2]) -> Self {
        NoiseRange::Between(t0 as f64, t1 as f64)
    }
}

/// The `noise_range_t` argument: none (timm's default `None`) or a
/// [`NoiseRange`]; a builder takes `t0`, `[t0, t1]` or a `NoiseRange`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct NoiseRangeT(pub Option<NoiseRange>);

impl From<NoiseRange> for NoiseRangeT {
    fn from(r: NoiseRange) -> Self {
        NoiseRangeT(Some(r))
    }
}

impl From<Option<NoiseRange>> for NoiseRangeT {
    fn from(r: Option<NoiseRange>) -> Self {
        NoiseRangeT(r)
    }
}

impl From<f64> for NoiseRangeT {
    fn from(t0: f64) -> Self {
        NoiseRange::from(t0).into()
    }
}

impl From<i64> for NoiseRangeT {
    fn from(t0: i64) -> Self {
        NoiseRange::from(t0).into()
    }
}

impl From<[f64; 2]> for NoiseRangeT {
    fn from(ts: [f64; 2]) -> Self {
        NoiseRange::from(ts).into()
    }
}

impl From<[i64; 2]> for NoiseRangeT {
    fn from(ts: [i64; 2]) -> Self {
        NoiseRange::from(ts).into()
    }
}

impl KwargValue for NoiseRangeT {
    const TYPE: &'static str = NoiseRange::TYPE;

    /// `null`, a number or a list of two, each finite.
    fn from_kwarg(value: serde_yaml::Value) -> std::result::Result<Self, Diag> {
        Option::<NoiseRange>::from_kwarg(value).map(NoiseRangeT)
    }
}

impl KwargValue for NoiseRange {
    const TYPE: &'static str = "float | list[float]";

    /// A number or a list of two, each finite (as every float argument).
    fn from_kwarg(value: serde_yaml::Value) -> std::result::Result<Self, Diag> {
        Ok(match from_serde(value)? {
            NoiseRange::From(t0) => NoiseRange::From(finite(t0)?),
            NoiseRange::Between(t0, t1) => NoiseRange::Between(
                finite(t0).map_err(|d| d.within(Seg::Index(0)))?,
                finite(t1).map_err(|d| d.within(Seg::Index(1)))?,
            ),
        })
    }
}

/// The draws after which [`Noise::sample`] gives up where timm would keep
/// drawing (each draw keeps a sample with probability `P(|z| < pct / std)`).
const MAX_DRAWS: u32 = 1_000_000;

/// timm's noise arguments (`noise_range_t`, `noise_pct`, `noise_std`,
/// `noise_seed`; the noise type is always `normal` for these classes).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Noise {
    pub range: Option<NoiseRange>,
    pub pct: f64,
    pub std: f64,
    pub seed: i64,
}

impl Noise {
    /// `_is_apply_noise(t)`.
    pub fn applies(&self, t: i64) -> bool {
        let t = t as f64;
        match self.range {
            None => false,
            Some(NoiseRange::From(t0)) => t >= t0,
            Some(NoiseRange::Between(t0, t1)) => t0 <= t && t < t1,
        }
    }

    /// `_calculate_noise(t)` for `noise_type='normal'`: a generator seeded
    /// with `noise_seed + t`, `randn(1) * noise_std` drawn until its magnitude
    /// is below `noise_pct`.
    ///
    /// # Errors
    /// [`Error::Value`] where timm would draw forever (`noise_pct <= 0`, a
    /// NaN or infinite `noise_std`, `noise_pct / noise_std < 1e-9`, or no
    /// sample within a million draws); [`Error::Overflow`] when
    /// `noise_seed + t` is not a 64-bit seed (PyTorch's `RuntimeError`).
    pub fn sample(&self, t: i64) -> Result<f64> {
        let (pct, std) = (self.pct, self.std);
        if super::math::not_gt(pct, 0.0) || !std.is_finite() || (std != 0.0 && pct / std.abs() < 1e-9) {
            return Err(Error::value(format!(
                "noise_pct={} and noise_std={}: timm would draw noise forever (it keeps a sample only when \
                 |randn * noise_std| < noise_pct)",
                super::super::py_float(pct),
                super::super::py_float(std)
            )));
        }
        let seed = i128::from(self.seed) + i128::from(t);
        let seed = u64::try_from(seed)
            .or_else(|_| i64::try_from(seed).map(|s| s as u64))
            .map_err(|_| Error::Overflow("noise_seed + t is not a 64-bit seed"))?;
        let mut g = TorchGenerator::new(seed);
        for _ in 0..MAX_DRAWS {
            let noise = g.randn1() * std;
            if noise.abs() < pct {
                return Ok(noise);
            }
        }
        Err(Error::value(format!(
            "no noise sample with |noise| < noise_pct={} in {MAX_DRAWS} draws (timm would keep drawing)",
            super::super::py_float(pct)
        )))
    }
}
