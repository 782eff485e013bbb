//! Saving and loading each rank's state shard.
//!
//! Format (little-endian `u64` words, then elements): the magic
//! `FADAMMPI`, the version, the element size in bytes, the number of ranks,
//! the rank, the number of tensors, each tensor's length and steps taken,
//! the shard length, then the shard's momentum and Fisher diagonal.

use crate::error::{CHECKPOINT_WORDS, CheckpointError};
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
    /// when saved on another number of ranks: re-sharding is not
    /// supported), or [`CheckpointError::Steps`] when the ranks'
    /// checkpoints are from different steps.
    pub fn load(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let decoded = self.decode(bytes);
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

    fn decode(&self, bytes: &[u8]) -> Result<Shard<P>, CheckpointError> {
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
        let (saved, now) = (word()? as usize, self.comm.size());
        if saved != now {
            return Err(CheckpointError::RankCount { saved, now });
        }
        let rank = word()? as usize;
        if rank != self.comm.rank() {
            return Err(CheckpointError::Rank { saved: rank });
        }
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
        let shard = self.momentum.len();
        if word()? != shard as u64 {
            return Err(CheckpointError::Layout);
        }
        let header = MAGIC.len() + 8 * (6 + 2 * lens.len());
        let size = core::mem::size_of::<P>();
        let body = bytes.get(header..).ok_or(format)?;
        if body.len() != 2 * shard * size {
            return Err(format);
        }
        let mut values = body.chunks_exact(size).map(P::read_le);
        let mut read = || -> Result<Vec<P>, CheckpointError> {
            (0..shard)
                .map(|_| values.next().flatten().ok_or(format))
                .collect()
        };
        Ok(Shard {
            steps,
            momentum: read()?,
            fisher: read()?,
        })
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
        assert_eq!(refused(&patched(9, 7), &mut b), CheckpointError::Layout);
        b.load(&good).unwrap();
        assert_eq!(b.save(), good);
        assert_eq!(b.steps(), &[1, 1]);
    }
}
