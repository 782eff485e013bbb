//! A [`TensorStep`](super::TensorStep)'s buffers: checked before anything
//! is recorded, and bound.

use crate::Error;
use crate::limits::ELEM_BYTES;
use crate::pipelines::{Buffers, bind_group, counters_source};

use super::{Counters, elem_bytes};

/// The buffers of one tensor's step: bindings (buffer, byte offset,
/// optional size) of `f32` data on the [`TensorStep`](super::TensorStep)'s
/// device, each with `STORAGE` usage and an offset that is a multiple of
/// the device's `min_storage_buffer_offset_alignment`. They may lie in one
/// buffer (a framework's memory pool) but must not overlap.
#[derive(Clone, Debug)]
pub struct TensorBuffers<'a> {
    /// The parameters, stepped in place (`len` elements).
    pub theta: wgpu::BufferBinding<'a>,
    /// The gradient (`len` elements; only read).
    pub grad: wgpu::BufferBinding<'a>,
    /// The momentum (`len` elements).
    pub momentum: wgpu::BufferBinding<'a>,
    /// The Fisher diagonal (`len` elements).
    pub fisher: wgpu::BufferBinding<'a>,
    /// The number of refused steps (one element).
    pub refused: wgpu::BufferBinding<'a>,
    /// `1 - β1^t` at the steps taken `t` (one element; 0 before the first).
    pub bias_1: wgpu::BufferBinding<'a>,
    /// `1 - β2^t` at the steps taken `t` (one element; 0 before the first).
    pub bias_2: wgpu::BufferBinding<'a>,
}

/// The bindings of `counters.wgsl`: the tables, the status, the counters.
const COUNTER_BINDINGS: u32 = 5;

impl TensorBuffers<'_> {
    /// The bindings with their names and the elements each must hold.
    fn named(&self, len: u64) -> [(&'static str, &wgpu::BufferBinding<'_>, u64); 7] {
        [
            ("theta", &self.theta, len),
            ("grad", &self.grad, len),
            ("momentum", &self.momentum, len),
            ("fisher", &self.fisher, len),
            ("refused", &self.refused, 1),
            ("bias_1", &self.bias_1, 1),
            ("bias_2", &self.bias_2, 1),
        ]
    }

    /// `Err(Binding)` unless every binding is one the device will accept
    /// and holds its elements (wgpu would otherwise raise a validation
    /// error, which natively panics without an error scope).
    pub(super) fn check(&self, limits: &wgpu::Limits, len: u64) -> Result<(), Error> {
        let align = u64::from(limits.min_storage_buffer_offset_alignment);
        for (binding, b, elems) in self.named(len) {
            let fail = |problem| Err(Error::Binding { binding, problem });
            let buffer_size = b.buffer.size();
            if !b.buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
                return fail("its buffer lacks STORAGE usage");
            }
            if b.offset % align != 0 {
                return fail("its offset is not a multiple of min_storage_buffer_offset_alignment");
            }
            if b.offset > buffer_size {
                return fail("its offset is past the end of its buffer");
            }
            let size = b.size.map_or(buffer_size - b.offset, |s| s.get());
            if size % ELEM_BYTES != 0 || b.offset + size > buffer_size {
                return fail("its size is not whole f32 elements inside its buffer");
            }
            if size < elem_bytes(elems) {
                return fail("it holds fewer elements than the tensor");
            }
        }
        Ok(())
    }

    /// The passes' bind group: the tensor's four bindings as the arenas.
    pub(super) fn main_bind_group(
        &self,
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        buffers: &Buffers,
    ) -> wgpu::BindGroup {
        let arenas = [&self.theta, &self.grad, &self.momentum, &self.fisher]
            .map(|b| wgpu::BindingResource::Buffer(b.clone()));
        bind_group(device, layout, arenas, buffers, 0)
    }

    /// The counter passes' bind group.
    pub(super) fn counters_bind_group(
        &self,
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        buffers: &Buffers,
    ) -> wgpu::BindGroup {
        let resources = [
            buffers.tab.as_entire_binding(),
            buffers.status.as_entire_binding(),
            wgpu::BindingResource::Buffer(self.refused.clone()),
            wgpu::BindingResource::Buffer(self.bias_1.clone()),
            wgpu::BindingResource::Buffer(self.bias_2.clone()),
        ];
        let entries: Vec<_> = (0..COUNTER_BINDINGS)
            .zip(resources)
            .map(|(binding, resource)| wgpu::BindGroupEntry { binding, resource })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("fadam counters"),
            layout,
            entries: &entries,
        })
    }
}

/// The counter pipelines (`begin`, `end`) and their layout: every binding
/// read-write storage.
pub(super) fn counters(device: &wgpu::Device) -> Counters {
    let entries: Vec<_> = (0..COUNTER_BINDINGS)
        .map(|binding| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: false },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("fadam counters"),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("fadam counters"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("fadam counters"),
        source: wgpu::ShaderSource::Wgsl(counters_source().into()),
    });
    let pipeline = |entry| {
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        })
    };
    Counters {
        begin: pipeline("begin"),
        end: pipeline("end"),
        layout,
    }
}
