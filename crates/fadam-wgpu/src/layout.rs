//! Where each tensor of a model lies in the arena buffers.

use crate::Error;

/// One tensor of a model: a range of the arena and its parameter group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TensorSpec {
    /// First element in the arena (elements of `f32`, not bytes).
    pub offset: u64,
    /// Number of elements.
    pub len: u64,
    /// Index of its parameter group (its [`FAdamConfig`](fadam_core::FAdamConfig)).
    pub group: usize,
}

/// The tensors of a model packed in one arena per role (parameters,
/// gradients, momentum, Fisher diagonal), all with the same layout.
///
/// ```
/// use fadam_wgpu::Layout;
/// // A weight [4, 3] in group 0 and its bias [3] in group 1.
/// let layout = Layout::packed([(12, 0), (3, 1)]);
/// assert_eq!(layout.arena_len(), 15);
/// assert_eq!(layout.tensors()[1].offset, 12);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    tensors: Vec<TensorSpec>,
    arena_len: u64,
}

impl Layout {
    /// Tensors of the given `(len, group)` one after another from offset 0.
    pub fn packed(tensors: impl IntoIterator<Item = (u64, usize)>) -> Self {
        let mut offset = 0;
        let tensors: Vec<_> = tensors
            .into_iter()
            .map(|(len, group)| {
                let t = TensorSpec { offset, len, group };
                offset += len;
                t
            })
            .collect();
        Self {
            tensors,
            arena_len: offset,
        }
    }

    /// Tensors at the given offsets (gaps allowed, in any order).
    ///
    /// # Errors
    /// [`Error::Overlap`] when two tensors share an element.
    ///
    /// ```
    /// use fadam_wgpu::{Error, Layout, TensorSpec};
    /// let t = |offset, len| TensorSpec { offset, len, group: 0 };
    /// assert_eq!(Layout::new(vec![t(64, 8), t(0, 10)]).unwrap().arena_len(), 72);
    /// assert_eq!(
    ///     Layout::new(vec![t(0, 10), t(9, 4)]),
    ///     Err(Error::Overlap { tensor: 0, other: 1 })
    /// );
    /// ```
    pub fn new(tensors: Vec<TensorSpec>) -> Result<Self, Error> {
        let mut order: Vec<usize> = (0..tensors.len()).collect();
        order.sort_by_key(|&i| (tensors[i].offset, i));
        let mut end = 0u64;
        let mut last: Option<usize> = None;
        for &i in &order {
            let t = tensors[i];
            if t.len == 0 {
                continue;
            }
            if let Some(prev) = last {
                if t.offset < end {
                    return Err(Error::Overlap {
                        tensor: prev.min(i),
                        other: prev.max(i),
                    });
                }
            }
            end = t.offset.checked_add(t.len).ok_or(Error::TooLarge {
                what: "tensor end",
                needed: u64::MAX,
                limit: u64::MAX,
            })?;
            last = Some(i);
        }
        let arena_len = tensors.iter().map(|t| t.offset + t.len).max().unwrap_or(0);
        Ok(Self { tensors, arena_len })
    }

    /// The tensors, in the order given (their indices name them in errors
    /// and reports).
    pub fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }

    /// Elements an arena must hold: the end of the last tensor.
    pub fn arena_len(&self) -> u64 {
        self.arena_len
    }

    /// Total number of parameters (the arena without gaps).
    pub fn num_params(&self) -> u64 {
        self.tensors.iter().map(|t| t.len).sum()
    }
}
