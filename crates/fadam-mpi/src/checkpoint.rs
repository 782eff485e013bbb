//! Saving and loading each rank's state shard.
//!
//! Format (little-endian `u64` words, then elements): the magic
//! `FADAMMPI`, the version, the element size in bytes, the number of ranks,
//! the rank, the number of tensors, each tensor's length and steps taken,
//! the shard length, then the shard's momentum and Fisher diagonal.

use crate::error::{CHECKPOINT_WORDS, CheckpointError};
use crate::layout::Layout;
use crate::sharded::{Element, element_tag};
use crate::{Collective, Error, ShardedFAdam};

const MAGIC: &[u8; 8] = b"FADAMMPI";
const VERSION: u64 = 1;

/// A decoded checkpoint, not yet checked against the other ranks.
struct Shard<P> {
    steps: Vec<u64>,
    momentum: Vec<P>,
    fisher: Vec<P>,
}

impl<P: Element, C: Collective> ShardedFAdam<P, C> {
    /// This rank's state shard and step counters, to be written to a file
    /// of its own; [`load`](Self::load) restores it.
    ///
    /// ```
    /// use fadam_core::FAdamConfig;
    /// use fadam_mpi::{ShardedFAdam, SingleProcess, TensorSpec};
    ///
    /// let new = || {
    ///     ShardedFAdam::<f32, _>::new(SingleProcess, &[FAdamConfig::new()], &[TensorSpec::new(3)])
    /// };
    /// let (mut a, mut b) = (new().unwrap(), new().unwrap());
    /// let mut p = vec![1.0f32, 2.0, 3.0];
    /// a.step(&mut [&mut p], &[&[0.1, 0.2, 0.3]]).unwrap();
    /// b.load(&a.save()).unwrap();
    /// assert_eq!(b.steps(), &[1]);
    /// assert_eq!(b.save(), a.save());
    /// ```
    pub fn save(&self) -> Vec<u8> {
        let layout = &self.layout;
        let mut out = MAGIC.to_vec();
        let mut word = |w: u64| out.extend_from_slice(&w.to_le_bytes());
        word(VERSION);
        word(element_tag::<P>());
        word(self.comm.size() as u64);
        word(self.comm.rank() as u64);
        word(layout.lens.len() as u64);
        for (&len, &step) in layout.lens.iter().zip(&self.steps) {
            word(len as u64);
            word(step);
        }
        word(self.momentum.len() as u64);
        for &x in self.momentum.iter().chain(&self.fisher) {
            x.write_le(&mut out);
        }
        out
    }

    /// Restores the state [`save`](Self::save) wrote on this rank, on the
    /// same number of ranks and the same layout; collective. Loading is
    /// all-or-nothing across ranks: either every rank takes its shard, or
    /// none changes and all return the same error.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] with the lowest rank whose bytes are not a
    /// checkpoint of this layout and rank ([`CheckpointError::RankCount`]
    /// when saved on another number of ranks: use
    /// [`load_resharded`](Self::load_resharded)), or
    /// [`CheckpointError::Steps`] when the ranks' checkpoints are from
    /// different steps.
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let decoded = self.decode(bytes);
        self.take(decoded)
    }

    /// Restores a state saved on any number of ranks (re-sharding);
    /// collective. `checkpoints` holds what [`save`](Self::save) wrote on
    /// every rank of the saving run, in any order (every rank reads them
    /// all, from a shared file system for example, and keeps the parts it
    /// owns now). All-or-nothing across ranks, as [`load`](Self::load).
    ///
    /// ```
    /// use fadam_core::FAdamConfig;
    /// use fadam_mpi::{ShardedFAdam, SingleProcess, TensorSpec};
    ///
    /// let tensors = [TensorSpec::new(3)];
    /// let mut a = ShardedFAdam::<f32, _>::new(SingleProcess, &[FAdamConfig::new()], &tensors)?;
    /// a.step(&mut [&mut [1.0, 2.0, 3.0]], &[&[0.1, 0.2, 0.3]])?;
    /// let mut b = ShardedFAdam::<f32, _>::new(SingleProcess, &[FAdamConfig::new()], &tensors)?;
    /// b.load_resharded(&[&a.save()])?;
    /// assert_eq!(b.save(), a.save());
    /// # Ok::<(), fadam_mpi::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`load`](Self::load), and [`CheckpointError::Set`] when the
    /// checkpoints are not exactly one per rank of one saving run.
    pub fn load_resharded(&mut self, checkpoints: &[&[u8]]) -> Result<(), Error> {
        let resharded = self.reshard(checkpoints);
        self.take(resharded)
    }

    /// Agrees with the other ranks on their decoded checkpoints and takes
    /// this rank's if every rank's is good and all are of the same step.
    fn take(&mut self, decoded: Result<Shard<P>, CheckpointError>) -> Result<(), Error> {
        let tensors = self.layout.lens.len();
        let mut words = CheckpointError::encode(decoded.as_ref().err().copied()).to_vec();
        match &decoded {
            Ok(shard) => words.extend(&shard.steps),
            Err(_) => words.resize(CHECKPOINT_WORDS + tensors, 0),
        }
        let each = words.len();
        let n = self.comm.size();
        let mut all = vec![0; each * n];
        self.comm.all_gather(&words, &vec![each; n], &mut all);
        let ranks = all.chunks_exact(each);
        for (rank, w) in ranks.clone().enumerate() {
            if let Some(problem) = CheckpointError::decode(w) {
                return Err(Error::Checkpoint { rank, problem });
            }
        }
        let steps0 = &all[CHECKPOINT_WORDS..each];
        if let Some(rank) = ranks.clone().position(|w| &w[CHECKPOINT_WORDS..] != steps0) {
            return Err(Error::Checkpoint {
                rank,
                problem: CheckpointError::Steps,
            });
        }
        let shard = decoded.map_err(|problem| Error::Checkpoint {
            rank: self.comm.rank(),
            problem,
        })?;
        self.steps = shard.steps;
        self.momentum = shard.momentum;
        self.fisher = shard.fisher;
        Ok(())
    }

    /// This rank's own checkpoint, on the same number of ranks.
    fn decode(&self, bytes: &[u8]) -> Result<Shard<P>, CheckpointError> {
        let saved = self.parse(bytes)?;
        let now = self.comm.size();
        if saved.ranks != now {
            return Err(CheckpointError::RankCount {
                saved: saved.ranks,
                now,
            });
        }
        if saved.rank != self.comm.rank() {
            return Err(CheckpointError::Rank { saved: saved.rank });
        }
        if saved.shard != self.momentum.len() {
            return Err(CheckpointError::Layout);
        }
        Ok(Shard {
            momentum: saved.values(0, 0..saved.shard),
            fisher: saved.values(1, 0..saved.shard),
            steps: saved.steps,
        })
    }

    /// This rank's part of the state in every rank's checkpoint of a run
    /// on any number of ranks.
    fn reshard(&self, checkpoints: &[&[u8]]) -> Result<Shard<P>, CheckpointError> {
        let saved = checkpoints
            .iter()
            .map(|b| self.parse(b))
            .collect::<Result<Vec<_>, _>>()?;
        let set = CheckpointError::Set;
        let ranks = saved.first().ok_or(set)?.ranks;
        let mut by_rank: Vec<Option<&Saved<'_, P>>> = vec![None; ranks];
        for s in &saved {
            match by_rank.get_mut(s.rank) {
                Some(slot @ None) if s.ranks == ranks => *slot = Some(s),
                _ => return Err(set),
            }
        }
        let by_rank: Vec<&Saved<'_, P>> = by_rank.into_iter().collect::<Option<_>>().ok_or(set)?;
        if saved.iter().any(|s| s.steps != saved[0].steps) {
            return Err(CheckpointError::Steps);
        }
        let old = Layout::new(&self.layout.lens, &self.layout.groups, ranks);
        let me = self.comm.rank();
        let mine = self.layout.cuts[me]..self.layout.cuts[me + 1];
        let mut shard = Shard {
            steps: saved[0].steps.clone(),
            momentum: Vec::with_capacity(mine.len()),
            fisher: Vec::with_capacity(mine.len()),
        };
        for (r, s) in by_rank.iter().enumerate() {
            if s.shard != old.shard_len(r) {
                return Err(CheckpointError::Layout);
            }
            let lo = mine.start.max(old.cuts[r]);
            let hi = mine.end.min(old.cuts[r + 1]);
            if lo < hi {
                let part = lo - old.cuts[r]..hi - old.cuts[r];
                shard.momentum.extend(s.values(0, part.clone()));
                shard.fisher.extend(s.values(1, part));
            }
        }
        Ok(shard)
    }

    /// A checkpoint's header, checked against this layout, and its body.
    fn parse<'a>(&self, bytes: &'a [u8]) -> Result<Saved<'a, P>, CheckpointError> {
        let format = CheckpointError::Format;
        let rest = bytes.strip_prefix(MAGIC).ok_or(format)?;
        let mut words = rest.chunks_exact(8);
        let mut word = || -> Result<u64, CheckpointError> {
            let w = words.next().ok_or(format)?;
            Ok(u64::from_le_bytes(w.try_into().map_err(|_| format)?))
        };
        let version = word()?;
        if version != VERSION {
            return Err(CheckpointError::Version { found: version });
        }
        if word()? != element_tag::<P>() {
            return Err(CheckpointError::ElementType);
        }
        let (ranks, rank) = (word()? as usize, word()? as usize);
        let lens = &self.layout.lens;
        if word()? != lens.len() as u64 {
            return Err(CheckpointError::Layout);
        }
        let mut steps = Vec::with_capacity(lens.len());
        for &len in lens {
            if word()? != len as u64 {
                return Err(CheckpointError::Layout);
            }
            steps.push(word()?);
        }
        let shard = word()? as usize;
        let header = MAGIC.len() + 8 * (6 + 2 * lens.len());
        let body = bytes.get(header..).ok_or(format)?;
        if Some(body.len()) != shard.checked_mul(2 * core::mem::size_of::<P>()) {
            return Err(format);
        }
        Ok(Saved {
            ranks,
            rank,
            steps,
            shard,
            body,
            _element: core::marker::PhantomData,
        })
    }
}

/// A parsed checkpoint: its header and its body of `2 · shard` elements.
struct Saved<'a, P> {
    ranks: usize,
    rank: usize,
    steps: Vec<u64>,
    shard: usize,
    body: &'a [u8],
    _element: core::marker::PhantomData<P>,
}

impl<P: Element> Saved<'_, P> {
    /// Elements `range` of the momentum (`part` 0) or the Fisher diagonal
    /// (`part` 1); the body's length is checked by `parse`.
    fn values(&self, part: usize, range: core::ops::Range<usize>) -> Vec<P> {
        let size = core::mem::size_of::<P>();
        let start = (part * self.shard + range.start) * size;
        self.body[start..start + range.len() * size]
            .chunks_exact(size)
            .map(|b| P::read_le(b).unwrap_or_default())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use fadam_core::FAdamConfig;

    use super::*;
    use crate::{SingleProcess, TensorSpec};

    fn optimizer() -> ShardedFAdam<f32, SingleProcess> {
        let tensors = [TensorSpec::new(5), TensorSpec::new(3)];
        ShardedFAdam::new(SingleProcess, &[FAdamConfig::new()], &tensors).unwrap()
    }

    #[test]
    fn every_corruption_is_refused_and_nothing_changes() {
        let mut a = optimizer();
        let (mut p, mut q) = (vec![1.0f32; 5], vec![-1.0f32; 3]);
        a.step(&mut [&mut p, &mut q], &[&[0.5; 5], &[0.25; 3]])
            .unwrap();
        let good = a.save();
        let mut b = optimizer();
        let fresh = b.save();
        let refused = |bytes: &[u8], b: &mut ShardedFAdam<f32, SingleProcess>| {
            let err = b.load(bytes).unwrap_err();
            assert_eq!(b.save(), fresh, "{err}");
            match err {
                Error::Checkpoint { rank: 0, problem } => problem,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            refused(&good[..good.len() - 1], &mut b),
            CheckpointError::Format
        );
        assert_eq!(refused(&[], &mut b), CheckpointError::Format);
        assert_eq!(refused(b"FADAMMPI", &mut b), CheckpointError::Format);
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(refused(&longer, &mut b), CheckpointError::Format);
        let patched = |word: usize, value: u64| {
            let mut bytes = good.clone();
            let at = 8 + 8 * word;
            bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
            bytes
        };
        assert_eq!(
            refused(&patched(0, 2), &mut b),
            CheckpointError::Version { found: 2 }
        );
        assert_eq!(
            refused(&patched(1, 8), &mut b),
            CheckpointError::ElementType
        );
        assert_eq!(
            refused(&patched(2, 3), &mut b),
            CheckpointError::RankCount { saved: 3, now: 1 }
        );
        assert_eq!(
            refused(&patched(3, 1), &mut b),
            CheckpointError::Rank { saved: 1 }
        );
        assert_eq!(refused(&patched(4, 3), &mut b), CheckpointError::Layout);
        assert_eq!(refused(&patched(5, 6), &mut b), CheckpointError::Layout);
        // A shard length that disagrees with the body.
        assert_eq!(refused(&patched(9, 7), &mut b), CheckpointError::Format);
        let set = |bytes: &[&[u8]], b: &mut ShardedFAdam<f32, SingleProcess>| {
            let err = b.load_resharded(bytes).unwrap_err();
            assert_eq!(b.save(), fresh, "{err}");
            err
        };
        let problem = CheckpointError::Set;
        let expected = Error::Checkpoint { rank: 0, problem };
        assert_eq!(set(&[], &mut b), expected);
        assert_eq!(set(&[&good, &good], &mut b), expected);
        // One checkpoint of two ranks', or a rank beyond the count.
        assert_eq!(set(&[&patched(2, 2)], &mut b), expected);
        assert_eq!(set(&[&patched(3, 1)], &mut b), expected);
        let problem = CheckpointError::Format;
        assert_eq!(
            set(&[&good[..9]], &mut b),
            Error::Checkpoint { rank: 0, problem }
        );
        b.load(&good).unwrap();
        assert_eq!(b.save(), good);
        assert_eq!(b.steps(), &[1, 1]);
    }
}
