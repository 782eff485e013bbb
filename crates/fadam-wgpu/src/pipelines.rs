//! The shader modules (the [`prelude`] of shared words in front of the
//! WGSL sources), the compute pipelines, the one bind group layout and the
//! bind groups of the passes.

use std::num::NonZeroU64;

use wgpu::util::DeviceExt;

use crate::limits::MIN_BUFFER_BYTES;
use crate::tables::{Plan, Window};
use crate::words::{
    B_FIS, B_GRAD, B_MOM, B_STATUS, B_TAB, B_THETA, B_WINDOW, B_WORK, STATUS_WORDS, WORD_BYTES,
    prelude,
};

const COMMON: &str = include_str!("shaders/common.wgsl");
const REDUCE: &str = include_str!("shaders/reduce.wgsl");
const FOLD: &str = include_str!("shaders/fold.wgsl");
const UPDATE: &str = include_str!("shaders/update.wgsl");

/// The shader modules: label and the pass's own source (after the prelude
/// and `common.wgsl`).
pub(crate) const MODULES: [(&str, &str); 3] = [
    ("fadam reduce", REDUCE),
    ("fadam fold", FOLD),
    ("fadam update", UPDATE),
];

const COUNTERS: &str = include_str!("shaders/counters.wgsl");

/// How the passes bind the gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GradAccess {
    /// Read-only: an [`FAdamGpu`](crate::FAdamGpu)'s gradient arena.
    ReadOnly,
    /// Read-write (never written): a [`TensorStep`](crate::TensorStep)'s
    /// gradient, which may lie in the same wgpu buffer as the parameters (a
    /// framework's memory pool), and wgpu refuses a buffer bound read-only
    /// and read-write in one dispatch.
    ReadWrite,
}

/// The gradient's declaration in `common.wgsl`, and as a
/// [`GradAccess::ReadWrite`] module has it.
const GRAD_READ_ONLY: &str = "var<storage, read> grad";
const GRAD_READ_WRITE: &str = "var<storage, read_write> grad";

/// The full WGSL of a module: prelude, common code, the pass.
pub(crate) fn module_source(body: &str, grad: GradAccess) -> String {
    let common = match grad {
        GradAccess::ReadOnly => COMMON.to_string(),
        GradAccess::ReadWrite => COMMON.replacen(GRAD_READ_ONLY, GRAD_READ_WRITE, 1),
    };
    format!("{}\n{common}\n{body}", prelude())
}

/// The WGSL of the [`TensorStep`](crate::TensorStep)'s counter passes.
pub(crate) fn counters_source() -> String {
    format!("{}\n{COUNTERS}", prelude())
}

/// The storage bindings: index, and whether the shaders only read it.
pub(crate) const STORAGE_BINDINGS: [(u32, bool); 7] = [
    (B_THETA, false),
    (B_GRAD, true),
    (B_MOM, false),
    (B_FIS, false),
    (B_TAB, true),
    (B_WORK, false),
    (B_STATUS, false),
];

/// The arena bindings, in the order of [`FAdamGpu`](crate::FAdamGpu)'s
/// arrays of arena resources: parameters, gradients, momentum, Fisher.
const ARENA_BINDINGS: [u32; 4] = [B_THETA, B_GRAD, B_MOM, B_FIS];

/// Words of the window uniform (the shaders' `Window`): first chunk,
/// number of chunks, number of tensors, padding.
const WINDOW_WORDS: usize = 4;
const WINDOW_BYTES: u64 = WINDOW_WORDS as u64 * WORD_BYTES;
/// Bytes between two windows' uniforms: the largest
/// `min_uniform_buffer_offset_alignment` a device may ask for.
pub(crate) const UNIFORM_SLOT: u64 = 256;
/// Bytes of the stand-ins bound for the arenas by the passes that do not
/// read them (the folds and the finish).
const STAND_IN_BYTES: u64 = 256;
/// Bytes of the status buffer.
pub(crate) const STATUS_BYTES: u64 = STATUS_WORDS as u64 * WORD_BYTES;

/// The uniforms of every window, then one more slot (no chunks) for the
/// per-tensor passes, each at a multiple of [`UNIFORM_SLOT`].
pub(crate) fn window_uniforms(windows: &[Window], num_tensors: u32) -> Vec<u32> {
    let slot = UNIFORM_SLOT as usize / 4;
    let mut words = vec![0u32; (windows.len() + 1) * slot];
    let per_tensor = Window {
        base: 0,
        len: 0,
        first_chunk: 0,
        num_chunks: 0,
    };
    for (i, w) in windows.iter().chain([&per_tensor]).enumerate() {
        words[i * slot..i * slot + WINDOW_WORDS].copy_from_slice(&[
            w.first_chunk,
            w.num_chunks,
            num_tensors,
            0,
        ]);
    }
    words
}

/// The optimizer's own buffers, bound by every pass.
#[derive(Debug)]
pub(crate) struct Buffers {
    /// The tables (`tab`).
    pub(crate) tab: wgpu::Buffer,
    /// The scratch (`work`).
    pub(crate) work: wgpu::Buffer,
    /// The status words.
    pub(crate) status: wgpu::Buffer,
    /// The window uniforms.
    pub(crate) windows: wgpu::Buffer,
}

/// A buffer of `size` bytes (zeros, as wgpu makes them).
pub(crate) fn empty_buffer(
    device: &wgpu::Device,
    label: &str,
    size: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: false,
    })
}

impl Buffers {
    /// The buffers of `plan` over `num_tensors` tensors: the tables as the
    /// plan wrote them, the scratch, the status, the window uniforms.
    pub(crate) fn new(device: &wgpu::Device, plan: &Plan, num_tensors: u32) -> Self {
        let init = |label, words: &[u32], usage| {
            device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(words),
                usage,
            })
        };
        let buffer = |label, size, usage| empty_buffer(device, label, size, usage);
        let storage = wgpu::BufferUsages::STORAGE;
        Self {
            tab: init(
                "fadam tables",
                &plan.words,
                storage | wgpu::BufferUsages::COPY_DST,
            ),
            work: buffer(
                "fadam work",
                (plan.work_words * WORD_BYTES).max(MIN_BUFFER_BYTES),
                storage,
            ),
            // Read back by `FAdamGpu`'s reports.
            status: buffer(
                "fadam status",
                STATUS_BYTES,
                storage | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            ),
            windows: init(
                "fadam windows",
                &window_uniforms(&plan.windows, num_tensors),
                wgpu::BufferUsages::UNIFORM,
            ),
        }
    }
}

/// The compute pipelines, one per entry point.
#[derive(Debug)]
pub(crate) struct Pipelines {
    pub(crate) reduce_fused: wgpu::ComputePipeline,
    pub(crate) reduce_redo: wgpu::ComputePipeline,
    pub(crate) fold_fused: wgpu::ComputePipeline,
    pub(crate) fold_redo: wgpu::ComputePipeline,
    pub(crate) update: wgpu::ComputePipeline,
    pub(crate) finish: wgpu::ComputePipeline,
}

pub(crate) fn bind_group_layout(device: &wgpu::Device, grad: GradAccess) -> wgpu::BindGroupLayout {
    let entry = |binding, ty, min_binding_size| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size,
        },
        count: None,
    };
    let entries: Vec<_> = STORAGE_BINDINGS
        .iter()
        .map(|&(binding, read_only)| {
            let read_only = read_only && !(binding == B_GRAD && grad == GradAccess::ReadWrite);
            entry(
                binding,
                wgpu::BufferBindingType::Storage { read_only },
                None,
            )
        })
        .chain([entry(
            B_WINDOW,
            wgpu::BufferBindingType::Uniform,
            NonZeroU64::new(WINDOW_BYTES),
        )])
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("fadam"),
        entries: &entries,
    })
}

/// A bind group of `arenas` (parameters, gradients, momentum, Fisher) with
/// the optimizer's buffers and the window uniform in `slot`.
pub(crate) fn bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    arenas: [wgpu::BindingResource<'_>; 4],
    buffers: &Buffers,
    slot: usize,
) -> wgpu::BindGroup {
    let entry = |binding, resource| wgpu::BindGroupEntry { binding, resource };
    let entries: Vec<_> = ARENA_BINDINGS
        .into_iter()
        .zip(arenas)
        .map(|(binding, resource)| entry(binding, resource))
        .chain([
            entry(B_TAB, buffers.tab.as_entire_binding()),
            entry(B_WORK, buffers.work.as_entire_binding()),
            entry(B_STATUS, buffers.status.as_entire_binding()),
            entry(
                B_WINDOW,
                wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffers.windows,
                    offset: slot as u64 * UNIFORM_SLOT,
                    size: NonZeroU64::new(WINDOW_BYTES),
                }),
            ),
        ])
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("fadam"),
        layout,
        entries: &entries,
    })
}

/// The bind group of the per-tensor passes (the folds and the finish):
/// stand-ins for the arenas, and the uniform slot after the windows'.
pub(crate) fn per_tensor_bind_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    buffers: &Buffers,
    num_windows: usize,
) -> wgpu::BindGroup {
    let stand_ins = ARENA_BINDINGS.map(|_| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("fadam stand-in"),
            size: STAND_IN_BYTES,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    });
    let arenas = [0, 1, 2, 3].map(|i| stand_ins[i].as_entire_binding());
    bind_group(device, layout, arenas, buffers, num_windows)
}

pub(crate) fn pipelines(
    device: &wgpu::Device,
    bgl: &wgpu::BindGroupLayout,
    grad: GradAccess,
) -> Pipelines {
    let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("fadam"),
        bind_group_layouts: &[Some(bgl)],
        immediate_size: 0,
    });
    let [reduce, fold, update] = MODULES.map(|(label, body)| {
        device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(module_source(body, grad).into()),
        })
    });
    let pipeline = |module: &wgpu::ShaderModule, entry: &str| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&layout),
            module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        })
    };
    Pipelines {
        reduce_fused: pipeline(&reduce, "reduce_fused"),
        reduce_redo: pipeline(&reduce, "reduce_redo"),
        fold_fused: pipeline(&fold, "fold_fused"),
        fold_redo: pipeline(&fold, "fold_redo"),
        update: pipeline(&update, "update"),
        finish: pipeline(&update, "finish"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::words::tests::defined;

    /// Constants the WGSL may define itself: shader-internal numbers, not
    /// shared with the host.
    const WGSL_OWN: [&str; 2] = ["EXP_FLOOR", "EXP_CEIL"];

    fn parse_source(source: &str) -> naga::Module {
        naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{}", e.emit_to_string(source)))
    }

    fn parse(body: &str) -> naga::Module {
        parse_source(&module_source(body, GradAccess::ReadOnly))
    }

    fn validate(label: &str, module: &naga::Module) {
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(module)
        .unwrap_or_else(|e| panic!("{label}: {e:?}"));
    }

    /// Every module composes (the prelude defines every name the WGSL
    /// uses) and validates, without a GPU.
    #[test]
    fn modules_compose_and_validate() {
        for (label, body) in MODULES {
            for grad in [GradAccess::ReadOnly, GradAccess::ReadWrite] {
                validate(label, &parse_source(&module_source(body, grad)));
            }
        }
        validate("counters", &parse_source(&counters_source()));
    }

    /// The read-write gradient changes the gradient's declaration, and only
    /// it.
    #[test]
    fn read_write_gradient() {
        assert_eq!(COMMON.matches(GRAD_READ_ONLY).count(), 1);
        let rw = module_source("", GradAccess::ReadWrite);
        assert_eq!(rw.matches(GRAD_READ_WRITE).count(), 1);
        assert_eq!(rw.matches(GRAD_READ_ONLY).count(), 0);
        assert_eq!(rw.len(), module_source("", GradAccess::ReadOnly).len() + 6);
    }

    /// The WGSL defines no shared word itself: its own constants are the
    /// few shader-internal ones.
    #[test]
    fn wgsl_defines_no_shared_word() {
        for source in [COMMON, REDUCE, FOLD, UPDATE, COUNTERS] {
            for line in source.lines() {
                if let Some(rest) = line.trim_start().strip_prefix("const ") {
                    let name = rest.split(':').next().unwrap().trim();
                    assert!(WGSL_OWN.contains(&name), "WGSL defines {name}");
                }
            }
        }
    }

    /// The prelude's constants, as the shader compiler reads them, have the
    /// host's values (bit for bit).
    #[test]
    fn prelude_values_are_the_hosts() {
        let module = parse("");
        let mut seen = 0;
        for (_, c) in module.constants.iter() {
            let name = c.name.as_deref().unwrap();
            let bits = match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v,
                naga::Expression::Literal(naga::Literal::F32(v)) => v.to_bits(),
                _ if WGSL_OWN.contains(&name) => continue,
                ref e => panic!("{name} = {e:?}"),
            };
            let host = defined().into_iter().find(|d| d.0 == name);
            assert_eq!(host, Some((name, bits)), "{name}");
            seen += 1;
        }
        assert_eq!(seen, defined().len());
    }

    /// The shaders' bindings are the bind group layout's: same indices,
    /// read-only exactly where the layout says so, the window uniform.
    #[test]
    fn bindings_match_the_layout() {
        let module = parse("");
        let mut found = Vec::new();
        for (_, v) in module.global_variables.iter() {
            let Some(rb) = &v.binding else { continue };
            assert_eq!(rb.group, 0);
            let read_only = match v.space {
                naga::AddressSpace::Storage { access } => {
                    !access.contains(naga::StorageAccess::STORE)
                }
                naga::AddressSpace::Uniform => {
                    assert_eq!(rb.binding, B_WINDOW);
                    let ty = &module.types[v.ty].inner;
                    assert_eq!(ty.size(module.to_ctx()), WINDOW_BYTES as u32);
                    continue;
                }
                ref s => panic!("binding {} in {s:?}", rb.binding),
            };
            found.push((rb.binding, read_only));
        }
        found.sort_unstable();
        assert_eq!(found, STORAGE_BINDINGS);
    }

    #[test]
    fn window_uniform_slots() {
        let w = Window {
            base: 0,
            len: 8,
            first_chunk: 5,
            num_chunks: 2,
        };
        let words = window_uniforms(&[w, w], 9);
        let slot = UNIFORM_SLOT as usize / 4;
        assert_eq!(words.len(), 3 * slot);
        assert_eq!(&words[slot..slot + WINDOW_WORDS], &[5, 2, 9, 0]);
        assert_eq!(&words[2 * slot..2 * slot + WINDOW_WORDS], &[0, 0, 9, 0]);
    }
}
