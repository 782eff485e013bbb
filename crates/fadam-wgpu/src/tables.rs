//! Host-side packing of the tables the shaders read (`meta`); the word
//! layout is documented at the top of `shaders/common.wgsl`.

use fadam_core::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode};

use crate::Layout;

/// Elements per chunk: one workgroup of 256 invocations, 16 each.
pub(crate) const CHUNK: u64 = 4096;
/// Invocations per workgroup (the shaders' `WG`).
pub(crate) const WG: u32 = 256;
/// Width of the 2-D dispatch grid (the shaders' `GRID_X`).
pub(crate) const GRID_X: u32 = 32768;
/// Words of constants per group (the shaders' `GW`).
pub(crate) const GW: usize = 16;
/// Words of partial sums per chunk and of scalars per tensor in `work`.
pub(crate) const PARTIAL_WORDS: usize = 8;
pub(crate) const SCALAR_WORDS: usize = 16;
/// Words of the status buffer.
pub(crate) const STATUS_WORDS: usize = 8;
const HEADER: usize = 8;

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

/// The static part of `meta` and the work split.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) words: Vec<u32>,
    pub(crate) windows: Vec<Window>,
    pub(crate) num_chunks: usize,
    pub(crate) tconst_off: usize,
}

impl Plan {
    /// Splits every tensor into chunks that lie inside one window of
    /// `window` elements (a multiple of [`CHUNK`]).
    pub(crate) fn new(layout: &Layout, num_groups: usize, window: u64, max_cand: usize) -> Self {
        let tensors = layout.tensors();
        let mut order: Vec<usize> = (0..tensors.len()).collect();
        order.sort_by_key(|&i| (tensors[i].offset, i));
        // Per tensor: its chunks, in arena order (so window order too).
        let mut first = vec![0u32; tensors.len()];
        let mut count = vec![0u32; tensors.len()];
        let mut chunks = Vec::new();
        for &i in &order {
            let t = tensors[i];
            first[i] = chunks.len() as u32;
            let (mut pos, end) = (t.offset, t.offset + t.len);
            while pos < end {
                let w = pos / window;
                let next = (pos + CHUNK).min(end).min((w + 1) * window);
                chunks.push(Chunk {
                    tensor: i as u32,
                    start: (pos - w * window) as u32,
                    len: (next - pos) as u32,
                    window: w as u32,
                });
                pos = next;
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
        let group_off = HEADER;
        let tensor_off = group_off + num_groups * GW;
        let chunk_off = tensor_off + tensors.len() * 4;
        let tconst_off = chunk_off + chunks.len() * 4;
        let total = tconst_off + 4 + max_cand * num_groups * 4;
        let mut words = vec![0u32; total];
        words[..7].copy_from_slice(&[
            num_groups as u32,
            tensors.len() as u32,
            chunks.len() as u32,
            group_off as u32,
            tensor_off as u32,
            chunk_off as u32,
            tconst_off as u32,
        ]);
        for (i, t) in tensors.iter().enumerate() {
            let at = tensor_off + i * 4;
            words[at..at + 4].copy_from_slice(&[first[i], count[i], t.len as u32, t.group as u32]);
        }
        for (c, ch) in chunks.iter().enumerate() {
            let at = chunk_off + c * 4;
            words[at..at + 4].copy_from_slice(&[ch.tensor, ch.start, ch.len, ch.window]);
        }
        Self {
            words,
            windows,
            num_chunks: chunks.len(),
            tconst_off,
        }
    }
}

/// `e` floored at the smallest normal `f32`, as the core does.
fn floor(e: f64) -> f64 {
    e.max(f64::from(f32::MIN_POSITIVE))
}

/// The words of one group's constants.
pub(crate) fn group_words(c: &FAdamConfig) -> [u32; GW] {
    let f = |x: f64| (x as f32).to_bits();
    let natural_m = c.momentum == MomentumMode::Natural;
    let natural_w = c.decay == DecayMode::Natural && c.weight_decay != 0.0;
    let clip = c.clip.is_some();
    let l2 = if c.decay == DecayMode::L2 {
        c.weight_decay
    } else {
        0.0
    };
    let decoupled = if c.decay == DecayMode::Decoupled {
        c.weight_decay
    } else {
        0.0
    };
    let nd = if c.decay == DecayMode::Natural {
        c.weight_decay
    } else {
        0.0
    };
    let eps_fb = match c.epsilon_rule {
        EpsilonRule::Adaptive => floor(c.eps.powf(2.0 * c.fisher_power)),
        EpsilonRule::PaperV3 | EpsilonRule::Fixed => floor(c.eps),
    };
    let need_n = clip && natural_m;
    let need_w = clip && natural_w;
    let flags = u32::from(clip)
        | u32::from(natural_m) << 1
        | u32::from(natural_w) << 2
        | u32::from(need_n) << 3
        | u32::from(need_w) << 4
        | u32::from(l2 != 0.0 || need_w) << 5
        | u32::from(1.0 - c.beta1 >= 0.5) << 6;
    let rule = match c.epsilon_rule {
        EpsilonRule::Adaptive => 0,
        EpsilonRule::PaperV3 => 1,
        EpsilonRule::Fixed => 2,
    };
    let power = if c.fisher_power == 0.5 {
        0
    } else if c.fisher_power == 1.0 {
        1
    } else {
        2
    };
    let mut w = [0u32; GW];
    w[..14].copy_from_slice(&[
        f(if c.maximize { -1.0 } else { 1.0 }),
        f(l2),
        // The momentum EMA as torch's lerp: m + w·(x - m) for w = 1 - β1
        // below one half, else x + (w - 1)·(x - m).
        f(if 1.0 - c.beta1 < 0.5 {
            1.0 - c.beta1
        } else {
            -c.beta1
        }),
        f(1.0 - c.lr * decoupled),
        f(nd),
        f(eps_fb),
        f(c.eps),
        f(c.eps2),
        f(2.0 * c.fisher_power),
        f(c.fisher_power),
        f(c.clip.unwrap_or(1.0)),
        flags,
        rule,
        power,
    ]);
    w
}

/// `b2`, `1 - b2`, the learning rate and the natural-decay strength of
/// step `t` (1-based). Adam momentum: `θ -= η/(1 - β1^t) · (m/d + (1 -
/// β1^t)·λ·w)`, so that the bias correction scales `m` alone, as the core
/// (and torch) order it.
pub(crate) fn step_words(c: &FAdamConfig, t: u64) -> [u32; 4] {
    let bt = c.beta2.powf(t as f64);
    let b2 = (bt - c.beta2) / (bt - 1.0);
    let bias = if c.momentum == MomentumMode::Natural {
        1.0
    } else {
        1.0 - c.beta1.powf(t as f64)
    };
    let nd = if c.decay == DecayMode::Natural {
        c.weight_decay
    } else {
        0.0
    };
    [
        (b2 as f32).to_bits(),
        ((1.0 - b2) as f32).to_bits(),
        ((c.lr / bias) as f32).to_bits(),
        ((nd * bias) as f32).to_bits(),
    ]
}

/// The step-constant table for steps `base..base + count`, every group.
pub(crate) fn tconst_words(groups: &[FAdamConfig], base: u64, count: usize) -> Vec<u32> {
    let mut w = Vec::with_capacity(4 + count * groups.len() * 4);
    w.extend_from_slice(&[base as u32, count as u32, 0, 0]);
    for k in 0..count as u64 {
        for g in groups {
            w.extend_from_slice(&step_words(g, base + k));
        }
    }
    w
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
        let plan = Plan::new(&layout, 2, window, 3);
        let w = &plan.words;
        let (tensor_off, chunk_off) = (w[4] as usize, w[5] as usize);
        let mut covered = vec![0u8; layout.arena_len() as usize];
        for (i, spec) in layout.tensors().iter().enumerate() {
            let (first, count) = (w[tensor_off + i * 4], w[tensor_off + i * 4 + 1]);
            assert_eq!(u64::from(w[tensor_off + i * 4 + 2]), spec.len);
            for c in first..first + count {
                let at = chunk_off + c as usize * 4;
                let (tensor, start, len, win) = (w[at], w[at + 1], w[at + 2], w[at + 3]);
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
        assert_eq!(next as usize, plan.num_chunks);
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
        let t = tconst_words(&[c, c], 5, 3);
        assert_eq!(t.len(), 4 + 3 * 2 * 4);
        assert_eq!(&t[..2], &[5, 3]);
        assert_eq!(&t[4 + 4 * 4..4 + 5 * 4], &step_words(&c, 7));
    }
}
