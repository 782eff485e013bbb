//! Where each tensor of a model lies in the arena buffers.

use crate::Error;
use crate::limits::{MAX_ARENA_ELEMS, fit};

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
/// let layout = Layout::packed([(12, 0), (3, 1)])?;
/// assert_eq!(layout.arena_len(), 15);
/// assert_eq!(layout.tensors()[1].offset, 12);
/// # Ok::<(), fadam_wgpu::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    tensors: Vec<TensorSpec>,
    arena_len: u64,
}

impl Layout {
    /// Tensors of the given `(len, group)` one after another from offset 0.
    ///
    /// # Errors
    /// [`Error::TooLarge`] when the arena would exceed
    /// `u64::MAX / 4` elements (its size in bytes must fit `u64`).
    ///
    /// ```
    /// use fadam_wgpu::{Error, Layout};
    /// assert_eq!(Layout::packed([(5, 0), (7, 1)])?.arena_len(), 12);
    /// assert!(matches!(
    ///     Layout::packed([(u64::MAX / 4, 0), (1, 0)]),
    ///     Err(Error::TooLarge { what: "arena elements", .. })
    /// ));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn packed(tensors: impl IntoIterator<Item = (u64, usize)>) -> Result<Self, Error> {
        let mut offset = 0u64;
        let mut specs = Vec::new();
        for (len, group) in tensors {
            specs.push(TensorSpec { offset, len, group });
            offset = arena_end(offset, len)?;
        }
        Ok(Self {
            tensors: specs,
            arena_len: offset,
        })
    }

    /// Tensors at the given offsets (gaps allowed, in any order).
    ///
    /// # Errors
    /// [`Error::Overlap`] when two tensors share an element;
    /// [`Error::TooLarge`] when a tensor ends past `u64::MAX / 4` elements
    /// (zero-length tensors too: the arena reaches to every tensor's end).
    ///
    /// ```
    /// use fadam_wgpu::{Error, Layout, TensorSpec};
    /// let t = |offset, len| TensorSpec { offset, len, group: 0 };
    /// assert_eq!(Layout::new(vec![t(64, 8), t(0, 10)]).unwrap().arena_len(), 72);
    /// assert_eq!(
    ///     Layout::new(vec![t(0, 10), t(9, 4)]),
    ///     Err(Error::Overlap { tensor: 0, other: 1 })
    /// );
    /// assert!(matches!(
    ///     Layout::new(vec![t(1 << 62, 0)]),
    ///     Err(Error::TooLarge { what: "arena elements", .. })
    /// ));
    /// ```
    pub fn new(tensors: Vec<TensorSpec>) -> Result<Self, Error> {
        let mut arena_len = 0u64;
        for t in &tensors {
            arena_len = arena_len.max(arena_end(t.offset, t.len)?);
        }
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
            // Checked above.
            end = t.offset + t.len;
            last = Some(i);
        }
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

/// The end of a tensor at `offset` of `len` elements, if the arena up to
/// it has a size in bytes that fits `u64` (so that no size computed from a
/// layout overflows).
fn arena_end(offset: u64, len: u64) -> Result<u64, Error> {
    let end = offset.saturating_add(len);
    fit("arena elements", end, MAX_ARENA_ELEMS)?;
    Ok(end)
}
