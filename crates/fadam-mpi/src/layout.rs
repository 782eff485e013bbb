//! The model's tensors and how they are cut into shards, one per rank.

use core::ops::Range;

use fadam_core::{FAdamConfig, REDUCTION_BLOCK};

use crate::{Collective, Error, LayoutMismatch};

/// One block of a tensor's sums: `range` within tensor `tensor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) tensor: usize,
    pub(crate) range: Range<usize>,
}

/// The model's tensors laid end to end (the flat order), and the shards.
///
/// The flat order is the tensors' order; each tensor is cut into blocks of
/// [`REDUCTION_BLOCK`] elements from its start. Rank `r` owns the blocks
/// `block_cuts[r]..block_cuts[r + 1]` of the model's block list: one
/// contiguous flat range, so that each tensor's part of it is one
/// contiguous, block-aligned range (possibly empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) lens: Vec<usize>,
    pub(crate) groups: Vec<usize>,
    /// Flat offset of each tensor, and the total at the end.
    pub(crate) offsets: Vec<usize>,
    pub(crate) blocks: Vec<Block>,
    /// The first block of each tensor, and the block count at the end.
    pub(crate) first_block: Vec<usize>,
    /// `size + 1` block indices.
    pub(crate) block_cuts: Vec<usize>,
    /// `size + 1` flat offsets, the element boundaries of `block_cuts`.
    pub(crate) cuts: Vec<usize>,
    /// The most elements one round of the gradient reduce-scatter or the
    /// parameter all-gather moves, all ranks together (see `rounds`).
    pub(crate) round: usize,
}

impl Layout {
    /// Cuts the tensors of `lens` (in groups `groups`) over `size` ranks so
    /// that each rank's share is within one block of `total / size`.
    pub(crate) fn new(lens: &[usize], groups: &[usize], size: usize) -> Self {
        let mut offsets = Vec::with_capacity(lens.len() + 1);
        let mut first_block = Vec::with_capacity(lens.len() + 1);
        let mut blocks = Vec::new();
        let mut flat = 0usize;
        for (tensor, &len) in lens.iter().enumerate() {
            offsets.push(flat);
            first_block.push(blocks.len());
            blocks.extend((0..len.div_ceil(REDUCTION_BLOCK)).map(|b| Block {
                tensor,
                range: b * REDUCTION_BLOCK..((b + 1) * REDUCTION_BLOCK).min(len),
            }));
            flat += len;
        }
        offsets.push(flat);
        first_block.push(blocks.len());
        let total = flat as u128;
        let block_start = |b: &Block| offsets[b.tensor] + b.range.start;
        // Rank r starts at the first block that starts at or after r/size
        // of the model.
        let block_cuts: Vec<usize> = (0..=size)
            .map(|r| {
                let target = total * r as u128;
                blocks.partition_point(|b| (block_start(b) as u128) * (size as u128) < target)
            })
            .collect();
        let cuts = block_cuts
            .iter()
            .map(|&b| blocks.get(b).map_or(flat, block_start))
            .collect();
        Self {
            lens: lens.to_vec(),
            groups: groups.to_vec(),
            offsets,
            blocks,
            first_block,
            block_cuts,
            cuts,
            round: usize::MAX,
        }
    }

    /// Sets the round budget of [`rounds`](Self::rounds).
    pub(crate) fn with_round(mut self, round: usize) -> Self {
        self.round = round.max(1);
        self
    }

    pub(crate) fn size(&self) -> usize {
        self.cuts.len() - 1
    }

    /// The number of elements rank `r` owns.
    pub(crate) fn shard_len(&self, r: usize) -> usize {
        self.cuts[r + 1] - self.cuts[r]
    }

    /// Rank `r`'s part of tensor `t`, in the tensor's indices.
    pub(crate) fn local_range(&self, r: usize, t: usize) -> Range<usize> {
        let (start, end) = (self.offsets[t], self.offsets[t + 1]);
        let lo = self.cuts[r].clamp(start, end);
        let hi = self.cuts[r + 1].clamp(start, end);
        lo - start..hi - start
    }

    /// Rank `r`'s part of tensor `t`, in the indices of rank `r`'s shard.
    pub(crate) fn shard_range(&self, r: usize, t: usize) -> Range<usize> {
        let local = self.local_range(r, t);
        // A non-empty part starts at flat offset `offsets[t] + local.start`,
        // at or after `cuts[r]`; an empty one anywhere in the shard.
        let start = (self.offsets[t] + local.start)
            .saturating_sub(self.cuts[r])
            .min(self.shard_len(r));
        start..start + local.len()
    }

    /// Rank `r`'s blocks, as indices into `blocks`.
    pub(crate) fn rank_blocks(&self, r: usize) -> Range<usize> {
        self.block_cuts[r]..self.block_cuts[r + 1]
    }

    /// How the reduce-scatter and the all-gather are cut into rounds so
    /// that one round moves at most about `round` elements in all (at least
    /// one per rank): the number of rounds, and the most elements of one
    /// rank's shard per round.
    pub(crate) fn rounds(&self) -> (usize, usize) {
        let widest = (0..self.size())
            .map(|r| self.shard_len(r))
            .max()
            .unwrap_or(0);
        let rounds = widest
            .saturating_mul(self.size())
            .div_ceil(self.round)
            .max(1);
        (rounds, widest.div_ceil(rounds))
    }

    /// The flat range of rank `r`'s shard that round `k` moves, with at
    /// most `piece` elements per round.
    pub(crate) fn round_range(&self, r: usize, k: usize, piece: usize) -> Range<usize> {
        let (start, end) = (self.cuts[r], self.cuts[r + 1]);
        (start + k * piece).min(end)..(start + (k + 1) * piece).min(end)
    }

    /// The tensors' non-empty parts of the flat range `flat`: `(tensor,
    /// range in the tensor, range in a buffer holding `flat`)`, in flat
    /// order.
    pub(crate) fn pieces(
        &self,
        flat: Range<usize>,
    ) -> impl Iterator<Item = (usize, Range<usize>, Range<usize>)> + '_ {
        let first = self
            .offsets
            .partition_point(|&o| o <= flat.start)
            .saturating_sub(1);
        (first..self.lens.len())
            .take_while(move |&t| self.offsets[t] < flat.end)
            .filter_map(move |t| {
                let (start, end) = (self.offsets[t], self.offsets[t + 1]);
                let lo = flat.start.clamp(start, end);
                let hi = flat.end.clamp(start, end);
                (lo < hi).then(|| (t, lo - start..hi - start, lo - flat.start..hi - flat.start))
            })
    }

    /// The words every rank must agree on: element type, tensors, groups
    /// and every config (through its `Debug` form, which prints every
    /// field, floats in round-trip form).
    pub(crate) fn describe(&self, element: u64, configs: &[FAdamConfig]) -> Vec<u64> {
        let mut words = vec![
            element,
            self.lens.len() as u64,
            configs.len() as u64,
            self.round as u64,
            0, // the length of the config text, below
        ];
        words.extend(self.lens.iter().map(|&n| n as u64));
        words.extend(self.groups.iter().map(|&g| g as u64));
        let text: Vec<u8> = configs
            .iter()
            .flat_map(|c| format!("{c:?};").into_bytes())
            .collect();
        words[HEADER_WORDS - 1] = text.len() as u64;
        words.extend(text.chunks(8).map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        }));
        words
    }
}

/// The number of words of [`Layout::describe`]'s header, gathered first so
/// that the full descriptions can be gathered with known counts.
const HEADER_WORDS: usize = 5;

/// The first difference between `ours` (rank 0's description) and
/// `theirs`, both from [`Layout::describe`] and with equal headers.
pub(crate) fn compare(ours: &[u64], theirs: &[u64]) -> Option<LayoutMismatch> {
    let tensors = ours[1] as usize;
    let lens = HEADER_WORDS..HEADER_WORDS + tensors;
    let groups = lens.end..lens.end + tensors;
    let at = |r: Range<usize>| r.clone().zip(ours[r.clone()].iter().zip(&theirs[r]));
    if let Some((i, (&a, &b))) = at(lens).find(|(_, (a, b))| a != b) {
        return Some(LayoutMismatch::TensorLen {
            tensor: i - HEADER_WORDS,
            expected: a as usize,
            found: b as usize,
        });
    }
    if let Some((i, (&a, &b))) = at(groups.clone()).find(|(_, (a, b))| a != b) {
        return Some(LayoutMismatch::TensorGroup {
            tensor: i - groups.start,
            expected: a as usize,
            found: b as usize,
        });
    }
    (ours[groups.end..] != theirs[groups.end..]).then_some(LayoutMismatch::Configs)
}

/// Compares the headers of two descriptions.
pub(crate) fn compare_headers(ours: &[u64], theirs: &[u64]) -> Option<LayoutMismatch> {
    let field = |i: usize| (ours[i] as usize, theirs[i] as usize);
    if ours[0] != theirs[0] {
        return Some(LayoutMismatch::ElementType);
    }
    let (expected, found) = field(1);
    if expected != found {
        return Some(LayoutMismatch::TensorCount { expected, found });
    }
    let (expected, found) = field(2);
    if expected != found {
        return Some(LayoutMismatch::GroupCount { expected, found });
    }
    let (expected, found) = field(3);
    if expected != found {
        return Some(LayoutMismatch::RoundElements { expected, found });
    }
    (ours[4] != theirs[4]).then_some(LayoutMismatch::Configs)
}

type Compare = fn(&[u64], &[u64]) -> Option<LayoutMismatch>;

/// Checks that every rank describes the same layout: headers first (fixed
/// size), then the full descriptions (equal sizes once headers agree).
pub(crate) fn check<C: Collective>(comm: &C, ours: &[u64]) -> Result<(), Error> {
    let n = comm.size();
    let first_mismatch = |all: &[u64], each: usize, compare: Compare| {
        let rank0 = &all[..each];
        all.chunks_exact(each)
            .enumerate()
            .find_map(|(rank, theirs)| Some((rank, compare(rank0, theirs)?)))
            .map(|(rank, mismatch)| Error::Layout { rank, mismatch })
    };
    let mut headers = vec![0; HEADER_WORDS * n];
    comm.all_gather(&ours[..HEADER_WORDS], &vec![HEADER_WORDS; n], &mut headers);
    if let Some(e) = first_mismatch(&headers, HEADER_WORDS, compare_headers) {
        return Err(e);
    }
    let mut all = vec![0; ours.len() * n];
    comm.all_gather(ours, &vec![ours.len(); n], &mut all);
    first_mismatch(&all, ours.len(), compare).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: usize = REDUCTION_BLOCK;

    fn check(lens: &[usize], size: usize) -> Layout {
        let layout = Layout::new(lens, &vec![0; lens.len()], size);
        let total: usize = lens.iter().sum();
        assert_eq!(layout.cuts[0], 0);
        assert_eq!(layout.cuts[size], total);
        for r in 0..size {
            assert!(layout.cuts[r] <= layout.cuts[r + 1]);
            // Within one block of an even share.
            let share = total / size;
            assert!(layout.shard_len(r) <= share + B + 1, "{lens:?} {size} {r}");
            let mut covered = 0;
            for (t, &len) in lens.iter().enumerate() {
                let local = layout.local_range(r, t);
                let shard = layout.shard_range(r, t);
                assert_eq!(local.len(), shard.len());
                if !local.is_empty() {
                    assert_eq!(local.start % B, 0, "starts on a block");
                    assert!(local.end % B == 0 || local.end == len, "ends on a block");
                    assert_eq!(shard.start, covered, "shard parts are consecutive");
                    assert_eq!(
                        layout.offsets[t] + local.start,
                        layout.cuts[r] + shard.start
                    );
                }
                covered += shard.len();
            }
            assert_eq!(covered, layout.shard_len(r));
            for b in layout.rank_blocks(r) {
                let block = &layout.blocks[b];
                let local = layout.local_range(r, block.tensor);
                assert!(local.start <= block.range.start && block.range.end <= local.end);
            }
        }
        layout
    }

    #[test]
    fn shards_cover_each_tensor_once_on_block_boundaries() {
        let lens = [3 * B + 5, 7, 0, 1, 2 * B, B - 1, 5 * B + 3];
        for size in 1..=9 {
            let layout = check(&lens, size);
            for (t, &len) in lens.iter().enumerate() {
                let mut parts: Vec<_> = (0..size).map(|r| layout.local_range(r, t)).collect();
                parts.retain(|p| !p.is_empty());
                parts.sort_by_key(|p| p.start);
                let mut at = 0;
                for p in parts {
                    assert_eq!(p.start, at);
                    at = p.end;
                }
                assert_eq!(at, len);
            }
        }
    }

    #[test]
    fn rounds_cover_each_shard_once_within_the_budget() {
        let lens = [3 * B + 5, 7, 0, 1, 2 * B, 0, B - 1, 5 * B + 3];
        let total: usize = lens.iter().sum();
        for size in 1..=5 {
            let layout = Layout::new(&lens, &vec![0; lens.len()], size);
            for budget in [1, 1000, B, 10 * B, usize::MAX] {
                let layout = layout.clone().with_round(budget);
                let (rounds, piece) = layout.rounds();
                let mut seen = vec![0u8; total];
                for k in 0..rounds {
                    let moved: usize = (0..size)
                        .map(|r| layout.round_range(r, k, piece).len())
                        .sum();
                    assert!(
                        moved <= budget.max(size).saturating_add(size),
                        "{moved} > {budget}"
                    );
                    for r in 0..size {
                        let flat = layout.round_range(r, k, piece);
                        let mut at = flat.start;
                        for (t, local, buf) in layout.pieces(flat.clone()) {
                            assert!(!local.is_empty());
                            assert_eq!(local.len(), buf.len());
                            assert_eq!(layout.offsets[t] + local.start, at);
                            assert_eq!(buf.start, at - flat.start);
                            at += local.len();
                        }
                        assert_eq!(at, flat.end);
                        flat.for_each(|i| seen[i] += 1);
                    }
                }
                assert!(
                    seen.iter().all(|&c| c == 1),
                    "{size} ranks, budget {budget}"
                );
            }
        }
    }

    #[test]
    fn even_shares_for_one_big_tensor() {
        let layout = check(&[1 << 24], 2);
        assert_eq!(
            [layout.shard_len(0), layout.shard_len(1)],
            [1 << 23, 1 << 23]
        );
        let layout = check(&[1 << 24], 3);
        assert_eq!((0..3).map(|r| layout.shard_len(r)).sum::<usize>(), 1 << 24);
        check(&[], 3);
        check(&[0, 0], 2);
        check(&[5], 4);
    }

    #[test]
    fn descriptions_differ_where_layouts_differ() {
        let c = [FAdamConfig::new()];
        let a = Layout::new(&[10, 20], &[0, 0], 2).describe(4, &c);
        let same = Layout::new(&[10, 20], &[0, 0], 3).describe(4, &c);
        assert_eq!(compare_headers(&a, &same), None);
        assert_eq!(compare(&a, &same), None);
        let len = Layout::new(&[10, 21], &[0, 0], 2).describe(4, &c);
        assert_eq!(
            compare(&a, &len),
            Some(LayoutMismatch::TensorLen {
                tensor: 1,
                expected: 20,
                found: 21
            })
        );
        let group = Layout::new(&[10, 20], &[0, 1], 2).describe(4, &c);
        assert!(matches!(
            compare(&a, &group),
            Some(LayoutMismatch::TensorGroup { tensor: 1, .. })
        ));
        let lr = Layout::new(&[10, 20], &[0, 0], 2).describe(4, &[c[0].with_lr(0.5)]);
        let found = compare_headers(&a, &lr).or_else(|| compare(&a, &lr));
        assert_eq!(found, Some(LayoutMismatch::Configs));
        let count = Layout::new(&[10], &[0], 2).describe(4, &c);
        assert!(matches!(
            compare_headers(&a, &count),
            Some(LayoutMismatch::TensorCount { .. })
        ));
        let round = Layout::new(&[10, 20], &[0, 0], 2)
            .with_round(7)
            .describe(4, &c);
        assert!(matches!(
            compare_headers(&a, &round),
            Some(LayoutMismatch::RoundElements { found: 7, .. })
        ));
        let f64s = Layout::new(&[10, 20], &[0, 0], 2).describe(8, &c);
        assert_eq!(
            compare_headers(&a, &f64s),
            Some(LayoutMismatch::ElementType)
        );
    }
}
