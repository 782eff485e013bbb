//! What the device must offer, the [`Options`], and the size of the
//! windows the arena is stepped in.

use crate::pipelines::STORAGE_BINDINGS;
use crate::words::{CHUNK, GRID_X, SKIP_TENSOR_MAX, WG};
use crate::{Error, Layout};

/// Settings of a [`FAdamGpu`](crate::FAdamGpu) beyond the model and its
/// groups.
///
/// ```
/// let options = fadam_wgpu::Options::default();
/// assert_eq!(options.max_pending_steps, 64);
/// assert_eq!(options.max_binding_bytes, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Caps the bytes bound per buffer and dispatch below the device's
    /// `max_storage_buffer_binding_size` (arenas larger than the cap are
    /// stepped in several windows). `None`: the device's limit.
    pub max_binding_bytes: Option<u64>,
    /// How many submitted steps may await their status report before
    /// [`FAdamGpu::step`](crate::FAdamGpu::step) blocks for the oldest (the
    /// GPU keeps the step counter, and the host sends the constants of every
    /// step count the GPU may be at: one per unreported step).
    pub max_pending_steps: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_binding_bytes: None,
            max_pending_steps: 64,
        }
    }
}

/// Bytes of an `f32` element.
pub(crate) const ELEM_BYTES: u64 = 4;
/// The most elements an arena may have: its size in bytes fits `u64`.
pub(crate) const MAX_ARENA_ELEMS: u64 = u64::MAX / ELEM_BYTES;
/// The largest step count: the GPU counts steps in 32 bits.
pub(crate) const MAX_STEP: u64 = u32::MAX as u64;
/// Bytes of the smallest buffer made, so that no binding (of an empty
/// arena) is empty.
pub(crate) const MIN_BUFFER_BYTES: u64 = 16;
/// Workgroup memory of the shaders' tree reduction: two arrays of `WG`
/// `vec3`s (16-byte stride), one of `WG` flags and one flag word.
const WORKGROUP_STORAGE_BYTES: u64 = 2 * 16 * WG as u64 + 4 * WG as u64 + 4;
/// Elements a window may bind: indices within a window are `u32`.
const MAX_WINDOW_ELEMS: u64 = 1 << 30;
/// Tensors a layout may hold: a skip code keeps the tensor in 29 bits.
const MAX_TENSORS: u64 = SKIP_TENSOR_MAX as u64 + 1;

/// `Err(Unsupported)` when the device offers less than the shaders need.
fn need_limit(what: &'static str, needed: u64, limit: u64) -> Result<(), Error> {
    if limit < needed {
        Err(Error::Unsupported {
            what,
            needed,
            limit,
        })
    } else {
        Ok(())
    }
}

/// `Err(TooLarge)` when `needed` exceeds `limit`.
pub(crate) fn fit(what: &'static str, needed: u64, limit: u64) -> Result<(), Error> {
    if needed > limit {
        Err(Error::TooLarge {
            what,
            needed,
            limit,
        })
    } else {
        Ok(())
    }
}

/// Checks that the device runs the shaders and holds `layout`'s state;
/// returns the elements per window: whole chunks (so offsets meet any
/// storage offset alignment, at most 256 bytes), as many as one binding
/// holds.
pub(crate) fn window_len(
    limits: &wgpu::Limits,
    options: &Options,
    layout: &Layout,
) -> Result<u64, Error> {
    let needs = [
        (
            "max_storage_buffers_per_shader_stage",
            STORAGE_BINDINGS.len() as u64,
            limits.max_storage_buffers_per_shader_stage,
        ),
        (
            "max_compute_invocations_per_workgroup",
            WG.into(),
            limits.max_compute_invocations_per_workgroup,
        ),
        (
            "max_compute_workgroup_size_x",
            WG.into(),
            limits.max_compute_workgroup_size_x,
        ),
        (
            "max_compute_workgroups_per_dimension",
            GRID_X.into(),
            limits.max_compute_workgroups_per_dimension,
        ),
        (
            "max_compute_workgroup_storage_size",
            WORKGROUP_STORAGE_BYTES,
            limits.max_compute_workgroup_storage_size,
        ),
    ];
    for (what, needed, limit) in needs {
        need_limit(what, needed, limit.into())?;
    }
    let max_bind = options
        .max_binding_bytes
        .map_or(limits.max_storage_buffer_binding_size, |b| {
            b.min(limits.max_storage_buffer_binding_size)
        });
    let window = (max_bind / ELEM_BYTES / CHUNK * CHUNK).min(MAX_WINDOW_ELEMS);
    need_limit(
        "max_storage_buffer_binding_size",
        CHUNK * ELEM_BYTES,
        window * ELEM_BYTES,
    )?;
    fit(
        "state arena bytes",
        layout.arena_len() * ELEM_BYTES,
        limits.max_buffer_size,
    )?;
    fit("tensors", layout.tensors().len() as u64, MAX_TENSORS)?;
    for t in layout.tensors() {
        fit("tensor elements", t.len, u64::from(u32::MAX))?;
    }
    Ok(window)
}

/// Workgroups a dispatch may have: the 2-D grid's.
pub(crate) fn max_workgroups(limits: &wgpu::Limits) -> u64 {
    u64::from(limits.max_compute_workgroups_per_dimension) * u64::from(GRID_X)
}

/// The 2-D grid for `n` workgroups.
pub(crate) fn grid(n: u32) -> (u32, u32) {
    (n.min(GRID_X), n.div_ceil(GRID_X))
}
