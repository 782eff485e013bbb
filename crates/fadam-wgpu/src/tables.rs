//! Host-side packing of the tables the shaders read (`tab`), in the word
//! layout of [`words`](crate::words).

use fadam_core::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode, StepScalars};

use crate::limits::{fit, max_workgroups};
use crate::words::*;
use crate::{Error, Layout};

/// One chunk: a run of at most [`CHUNK`] elements of one tensor inside one
/// window.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Chunk {
    pub(crate) tensor: u32,
    pub(crate) start: u32,
    pub(crate) len: u32,
    pub(crate) window: u32,
}

/// A window: the range of the arena bound for one set of dispatches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window {
    /// First element of the arena it binds.
    pub(crate) base: u64,
    /// Elements it binds.
    pub(crate) len: u64,
    pub(crate) first_chunk: u32,
    pub(crate) num_chunks: u32,
}

/// The static part of `tab` and the work split.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) words: Vec<u32>,
    pub(crate) windows: Vec<Window>,
    /// Words of the scratch (`work`).
    pub(crate) work_words: u64,
}

/// The most words of `tab` or `work`: what one binding holds, and what the
/// shaders' `u32` indices reach.
fn max_table_words(limits: &wgpu::Limits) -> u64 {
    (limits.max_storage_buffer_binding_size / WORD_BYTES).min(u64::from(u32::MAX))
}

/// `a * b + c` in `u64`, saturating (a saturated count exceeds every limit).
fn mul_add(a: usize, b: usize, c: u64) -> u64 {
    (a as u64).saturating_mul(b as u64).saturating_add(c)
}

/// The chunks of a tensor at `offset` of `len` elements, as `(first
/// element, elements)`: runs of at most [`CHUNK`] inside one window of
/// `window` elements.
fn chunks_of(offset: u64, len: u64, window: u64) -> impl Iterator<Item = (u64, u64)> {
    let end = offset + len;
    let mut pos = offset;
    std::iter::from_fn(move || {
        (pos < end).then(|| {
            let w = pos / window;
            let next = (pos + CHUNK).min(end).min((w + 1) * window);
            let chunk = (pos, next - pos);
            pos = next;
            chunk
        })
    })
}

impl Plan {
    /// Splits every tensor into chunks that lie inside one window of
    /// `window` elements (a multiple of [`CHUNK`]), with room for
    /// `max_cand` step-constant entries per group. Counts with checked
    /// arithmetic and allocates only what fits `limits`.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when the chunks exceed a dispatch's workgroups,
    /// or the tables one binding.
    pub(crate) fn new(
        layout: &Layout,
        num_groups: usize,
        window: u64,
        max_cand: usize,
        limits: &wgpu::Limits,
    ) -> Result<Self, Error> {
        let tensors = layout.tensors();
        let max_words = max_table_words(limits);
        let fit_words = |words: u64| {
            fit(
                "optimizer tables bytes",
                words.saturating_mul(WORD_BYTES),
                max_words * WORD_BYTES,
            )
        };
        // Everything but the chunks' entries, before anything is allocated.
        let fixed = mul_add(max_cand, num_groups.saturating_mul(STEP_WORDS), 0)
            .saturating_add(mul_add(num_groups, GW, (HEADER + TCONST_HEADER) as u64))
            .saturating_add(mul_add(tensors.len(), TENSOR_WORDS, 0));
        fit_words(fixed)?;
        let num_chunks: u64 = tensors
            .iter()
            .map(|t| chunks_of(t.offset, t.len, window).count() as u64)
            .sum();
        fit(
            "chunks",
            num_chunks,
            max_workgroups(limits).min(u64::from(u32::MAX)),
        )?;
        let num_chunks = num_chunks as usize;
        let total = mul_add(num_chunks, CHUNK_WORDS, fixed);
        let work_words = mul_add(
            num_chunks,
            PARTIAL_WORDS,
            mul_add(tensors.len(), SCALAR_WORDS, 0),
        );
        fit_words(total.max(work_words))?;
        let mut order: Vec<usize> = (0..tensors.len()).collect();
        order.sort_by_key(|&i| (tensors[i].offset, i));
        // Per tensor: its chunks, in arena order (so window order too).
        let mut first = vec![0u32; tensors.len()];
        let mut count = vec![0u32; tensors.len()];
        let mut chunks = Vec::with_capacity(num_chunks);
        for &i in &order {
            let t = tensors[i];
            first[i] = chunks.len() as u32;
            for (pos, len) in chunks_of(t.offset, t.len, window) {
                let w = pos / window;
                chunks.push(Chunk {
                    tensor: i as u32,
                    start: (pos - w * window) as u32,
                    len: len as u32,
                    window: w as u32,
                });
            }
            count[i] = chunks.len() as u32 - first[i];
        }
        let mut windows: Vec<Window> = Vec::new();
        for (c, ch) in chunks.iter().enumerate() {
            match windows.last_mut() {
                Some(w) if w.base == u64::from(ch.window) * window => w.num_chunks += 1,
                _ => {
                    let base = u64::from(ch.window) * window;
                    windows.push(Window {
                        base,
                        len: window.min(layout.arena_len() - base),
                        first_chunk: c as u32,
                        num_chunks: 1,
                    });
                }
            }
        }
        // Every count below fits `u32` (at most `max_words`).
        let group_off = HEADER;
        let tensor_off = group_off + num_groups * GW;
        let chunk_off = tensor_off + tensors.len() * TENSOR_WORDS;
        let tconst_off = chunk_off + chunks.len() * CHUNK_WORDS;
        let mut words = vec![0u32; total as usize];
        words[H_N_GROUPS] = num_groups as u32;
        words[H_N_TENSORS] = tensors.len() as u32;
        words[H_N_CHUNKS] = chunks.len() as u32;
        words[H_GROUP_OFF] = group_off as u32;
        words[H_TENSOR_OFF] = tensor_off as u32;
        words[H_CHUNK_OFF] = chunk_off as u32;
        words[H_TCONST_OFF] = tconst_off as u32;
        for (i, t) in tensors.iter().enumerate() {
            let at = tensor_off + i * TENSOR_WORDS;
            words[at + T_FIRST_CHUNK] = first[i];
            words[at + T_N_CHUNKS] = count[i];
            words[at + T_LEN] = t.len as u32;
            words[at + T_GROUP] = t.group as u32;
        }
        for (c, ch) in chunks.iter().enumerate() {
            let at = chunk_off + c * CHUNK_WORDS;
            words[at + C_TENSOR] = ch.tensor;
            words[at + C_START] = ch.start;
            words[at + C_LEN] = ch.len;
            words[at + C_WINDOW] = ch.window;
        }
        Ok(Self {
            words,
            windows,
            work_words,
        })
    }
}

/// The floor of every epsilon: the smallest normal `f32`, so that `d = f^p
/// + e` is normal and `g / d` finite.
const EPS_FLOOR: f64 = f32::MIN_POSITIVE as f64;

/// The bits of `x` as an `f32` word.
fn f32_word(x: f64) -> u32 {
    (x as f32).to_bits()
}

/// The words of one group's constants (`G_*` slots).
pub(crate) fn group_words(c: &FAdamConfig) -> [u32; GW] {
    // The fields used here do not depend on the step.
    let s = StepScalars::new(c, 1);
    let natural_m = c.momentum == MomentumMode::Natural;
    let natural_w = c.decay_strength(DecayMode::Natural) != 0.0;
    let clip = c.clip.is_some();
    let need_n = clip && natural_m;
    let need_w = clip && natural_w;
    // The momentum EMA as torch's lerp: m + w·(x - m) for w = 1 - β1
    // below one half, else x + (w - 1)·(x - m).
    let lerp_from_new = 1.0 - c.beta1 >= 0.5;
    let flag = |on: bool, bit: u32| if on { bit } else { 0 };
    let mut w = [0u32; GW];
    w[G_SIGN] = f32_word(s.sign);
    w[G_L2] = f32_word(s.l2);
    w[G_LERP] = f32_word(if lerp_from_new {
        -c.beta1
    } else {
        1.0 - c.beta1
    });
    w[G_KEEP] = f32_word(s.decoupled_keep);
    w[G_EPS_FB] = f32_word(c.epsilon_fallback(EPS_FLOOR));
    w[G_EPS] = f32_word(c.eps);
    w[G_EPS2] = f32_word(c.eps2);
    w[G_TWO_P] = f32_word(2.0 * c.fisher_power);
    w[G_P] = f32_word(c.fisher_power);
    w[G_CLIP] = f32_word(c.clip.unwrap_or(1.0));
    w[G_FLAGS] = flag(clip, F_CLIP)
        | flag(natural_m, F_NAT_M)
        | flag(natural_w, F_NAT_W)
        | flag(need_n, F_NEED_N)
        | flag(need_w, F_NEED_W)
        | flag(s.l2 != 0.0 || need_w, F_READ_THETA)
        | flag(lerp_from_new, F_LERP_NEW);
    w[G_RULE] = match c.epsilon_rule {
        EpsilonRule::Adaptive => RULE_ADAPTIVE,
        EpsilonRule::PaperV3 => RULE_PAPER_V3,
        EpsilonRule::Fixed => RULE_FIXED,
    };
    w[G_POWER] = if c.fisher_power == 0.5 {
        POWER_SQRT
    } else if c.fisher_power == 1.0 {
        POWER_ONE
    } else {
        POWER_GENERAL
    };
    w
}

/// One step-constant entry: the core's `b2`, `1 - b2`, learning rate and
/// natural-decay strength of step `t` (1-based), in `f32`.
pub(crate) fn step_words(c: &FAdamConfig, t: u64) -> [u32; STEP_WORDS] {
    let s = StepScalars::new(c, t);
    [s.b2, s.one_minus_b2, s.lr, s.natural_decay].map(f32_word)
}

/// The `K_*` words of `config`: the bias recurrences' factors (`f32`, as
/// fadam-burn's tensor-operation step rounds them), the learning rate and
/// natural-decay strength, and whether the momentum is Adam's.
pub(crate) fn counter_words(c: &FAdamConfig) -> [u32; COUNTER_WORDS] {
    let mut w = [0u32; COUNTER_WORDS];
    w[K_BETA1] = f32_word(c.beta1);
    w[K_OMB1] = f32_word(1.0 - c.beta1);
    w[K_BETA2] = f32_word(c.beta2);
    w[K_OMB2] = f32_word(1.0 - c.beta2);
    w[K_LR] = f32_word(c.lr);
    w[K_DECAY] = f32_word(c.decay_strength(DecayMode::Natural));
    w[K_ADAM] = u32::from(c.momentum == MomentumMode::Adam);
    w
}

/// The step-constant table for steps `base..base + count`, every group.
///
/// # Errors
/// The core's [`OutOfRange`](fadam_core::Error::OutOfRange) (in
/// [`Error::Core`]) when a constant does not fit `f32` (as the core's `f32`
/// step refuses it: the same check), or its
/// [`Config`](fadam_core::Error::Config) for an invalid group.
pub(crate) fn tconst_words(
    groups: &[FAdamConfig],
    base: u64,
    count: usize,
) -> Result<Vec<u32>, Error> {
    let mut w = vec![0u32; TCONST_HEADER];
    w[TC_BASE] = base as u32;
    w[TC_COUNT] = count as u32;
    w.reserve(count * groups.len() * STEP_WORDS);
    for k in 0..count as u64 {
        for (group, g) in groups.iter().enumerate() {
            let t = base + k;
            fadam_core::Reduction::<f32>::new(g, t - 1, 0).map_err(|e| in_group(e, group))?;
            w.extend_from_slice(&step_words(g, t));
        }
    }
    Ok(w)
}

/// A config error of a lone [`Reduction`](fadam_core::Reduction) (which
/// names group 0), about group `group`.
fn in_group(e: fadam_core::Error, group: usize) -> fadam_core::Error {
    use fadam_core::Error as E;
    match e {
        E::OutOfRange {
            parameter, value, ..
        } => E::OutOfRange {
            group,
            parameter,
            value,
        },
        E::Config { error, .. } => E::Config { group, error },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TensorSpec;

    /// Chunks cover every element once, never straddle a tensor or a
    /// window, and each window's chunks are contiguous; no GPU needed.
    #[test]
    fn chunks_tile_tensors_inside_windows() {
        let t = |offset, len, group| TensorSpec { offset, len, group };
        let layout = Layout::new(vec![
            t(50_000, 3, 1),
            t(0, 40_000, 0),
            t(40_000, 0, 0),
            t(40_010, 9_000, 1),
            t(60_000, 1, 0),
        ])
        .unwrap();
        let window = 4 * CHUNK;
        let plan = Plan::new(&layout, 2, window, 3, &wgpu::Limits::default()).unwrap();
        let w = &plan.words;
        let (tensor_off, chunk_off) = (w[H_TENSOR_OFF] as usize, w[H_CHUNK_OFF] as usize);
        let mut covered = vec![0u8; layout.arena_len() as usize];
        for (i, spec) in layout.tensors().iter().enumerate() {
            let tb = tensor_off + i * TENSOR_WORDS;
            let (first, count) = (w[tb + T_FIRST_CHUNK], w[tb + T_N_CHUNKS]);
            assert_eq!(u64::from(w[tb + T_LEN]), spec.len);
            assert_eq!(w[tb + T_GROUP] as usize, spec.group);
            for c in first..first + count {
                let at = chunk_off + c as usize * CHUNK_WORDS;
                let (tensor, start, len, win) = (
                    w[at + C_TENSOR],
                    w[at + C_START],
                    w[at + C_LEN],
                    w[at + C_WINDOW],
                );
                assert_eq!(tensor as usize, i);
                assert!(u64::from(len) <= CHUNK && len > 0);
                assert!(u64::from(start + len) <= window);
                let abs = u64::from(win) * window + u64::from(start);
                assert!(abs >= spec.offset && abs + u64::from(len) <= spec.offset + spec.len);
                for e in abs..abs + u64::from(len) {
                    covered[e as usize] += 1;
                }
            }
        }
        for spec in layout.tensors() {
            let r = spec.offset as usize..(spec.offset + spec.len) as usize;
            assert!(covered[r].iter().all(|&c| c == 1));
        }
        let mut next = 0;
        for win in &plan.windows {
            assert_eq!(win.first_chunk, next);
            next += win.num_chunks;
            assert!(win.len <= window && win.base % window == 0);
        }
        assert_eq!(next, w[H_N_CHUNKS]);
        assert_eq!(plan.windows.len(), 4);
    }

    #[test]
    fn step_constants() {
        let c = FAdamConfig::new();
        let w = step_words(&c, 1);
        assert_eq!(f32::from_bits(w[0]), 0.0);
        assert_eq!(f32::from_bits(w[1]), 1.0);
        assert_eq!(f32::from_bits(w[2]), 1e-3);
        assert_eq!(f32::from_bits(w[3]), 0.1);
        let adam = step_words(&FAdamConfig::adamw(), 1);
        assert_eq!(f32::from_bits(adam[2]), (1e-3f64 / (1.0 - 0.9)) as f32);
        assert_eq!(f32::from_bits(adam[3]), 0.0);
        let t = tconst_words(&[c, c], 5, 3).unwrap();
        assert_eq!(t.len(), TCONST_HEADER + 3 * 2 * STEP_WORDS);
        assert_eq!((t[TC_BASE], t[TC_COUNT]), (5, 3));
        // Step 7 (candidate 2), group 0.
        let at = TCONST_HEADER + 4 * STEP_WORDS;
        assert_eq!(&t[at..at + STEP_WORDS], &step_words(&c, 7));
    }
}
