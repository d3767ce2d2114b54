//! Vulkan device access for circ's GPU backend: open a device that has
//! what circ's SPIR-V needs (f64, i64, buffer device addresses, f64 float
//! controls), make buffers with device addresses (device-local, mapped
//! where the host can map them, else read and written through staging
//! copies), and record compute dispatches, copies and fills with explicit
//! barriers. The Vulkan loader is
//! opened at run time (`libvulkan.so.1`), so circ builds and runs without
//! it and says why when it is missing.
//!
//! It owns talking to Vulkan; it must not generate code, know the language
//! or the IR, read the environment or print. Every Vulkan call is unsafe:
//! the types here keep the rules (objects made from a live device and
//! destroyed once, before it, after the queue is idle).
#![allow(unsafe_code)]

pub mod exec;

use ash::vk;
use std::ffi::CStr;
use std::sync::Arc;

/// Why the GPU could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuError(pub String);

impl std::fmt::Display for GpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

type R<T> = Result<T, GpuError>;

fn vkerr(what: &str) -> impl Fn(vk::Result) -> GpuError + '_ {
    move |e| GpuError(format!("{what}: {e}"))
}

/// An open Vulkan device with one compute queue (cheap to clone: buffers
/// and kernels keep it open until the last of them is dropped).
#[derive(Clone)]
pub struct Gpu {
    dev: Arc<Dev>,
    /// Device buffers never mapped, even where the host could map them.
    staged: bool,
}

/// The device itself, destroyed when nothing uses it.
struct Dev {
    _entry: ash::Entry,
    instance: ash::Instance,
    device: ash::Device,
    queue: vk::Queue,
    pool: vk::CommandPool,
    memory: vk::PhysicalDeviceMemoryProperties,
    name: String,
    /// Invocations per subgroup (a warp's 32 on NVIDIA).
    subgroup: u32,
    /// A driver that runs on the CPU (lavapipe).
    cpu: bool,
}

/// A buffer in host-visible memory, with its device address.
pub struct Buffer {
    dev: Arc<Dev>,
    buffer: vk::Buffer,
    memory: vk::DeviceMemory,
    ptr: *mut u8,
    len: usize,
    /// Its device address (what the push-constant table holds).
    pub address: u64,
}

/// A compute module ready to dispatch: its entry point `main`.
pub struct Kernel {
    dev: Arc<Dev>,
    module: vk::ShaderModule,
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
}

impl Gpu {
    /// The first device with f64, i64 and buffer device addresses.
    pub fn open() -> R<Gpu> {
        // SAFETY: loading the Vulkan loader runs its initialisers only.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| {
            GpuError(format!(
                "no Vulkan loader (libvulkan.so.1: install libvulkan1 and a driver, e.g. mesa-vulkan-drivers): {e}"
            ))
        })?;
        let app = vk::ApplicationInfo::default()
            .application_name(c"circ")
            .api_version(vk::API_VERSION_1_2);
        let info = vk::InstanceCreateInfo::default().application_info(&app);
        // SAFETY: `info` and what it points to outlive the call.
        let instance = unsafe { entry.create_instance(&info, None) }
            .map_err(vkerr("cannot create a Vulkan instance"))?;
        match Self::device(entry, instance) {
            Ok(g) => Ok(g),
            Err((entry, instance, e)) => {
                // SAFETY: nothing made from the instance is alive, and the
                // loader (`entry`) is still open.
                unsafe { instance.destroy_instance(None) };
                drop(entry);
                Err(e)
            }
        }
    }

    #[allow(clippy::result_large_err)]
    fn device(
        entry: ash::Entry,
        instance: ash::Instance,
    ) -> Result<Gpu, (ash::Entry, ash::Instance, GpuError)> {
        // SAFETY: the instance is live.
        let phys = match unsafe { instance.enumerate_physical_devices() } {
            Ok(p) => p,
            Err(e) => return Err((entry, instance, vkerr("cannot list Vulkan devices")(e))),
        };
        let mut why = vec![];
        for pd in phys {
            // SAFETY: `pd` comes from this instance.
            let props = unsafe { instance.get_physical_device_properties(pd) };
            let name = props
                .device_name_as_c_str()
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            let mut f12 = vk::PhysicalDeviceVulkan12Features::default();
            let mut f2 = vk::PhysicalDeviceFeatures2::default().push_next(&mut f12);
            // SAFETY: `f2` chains only `f12`, both alive.
            unsafe { instance.get_physical_device_features2(pd, &mut f2) };
            let f = f2.features;
            // Float controls: f64 keeps signed zeros, infinities and NaNs,
            // and rounds to nearest even, when the module asks (lavapipe
            // does not promise to keep f64 subnormals).
            let mut p12 = vk::PhysicalDeviceVulkan12Properties::default();
            let mut sub = vk::PhysicalDeviceSubgroupProperties::default();
            let mut p2 = vk::PhysicalDeviceProperties2::default()
                .push_next(&mut p12)
                .push_next(&mut sub);
            // SAFETY: `p2` chains only `p12` and `sub`, all alive.
            unsafe { instance.get_physical_device_properties2(pd, &mut p2) };
            let missing: Vec<&str> = [
                (f.shader_float64 == 0, "shaderFloat64"),
                (f.shader_int64 == 0, "shaderInt64"),
                (f12.buffer_device_address == 0, "bufferDeviceAddress"),
                (
                    p12.shader_signed_zero_inf_nan_preserve_float64 == 0,
                    "shaderSignedZeroInfNanPreserveFloat64",
                ),
                (
                    p12.shader_rounding_mode_rte_float64 == 0,
                    "shaderRoundingModeRTEFloat64",
                ),
            ]
            .into_iter()
            .filter_map(|(m, n)| m.then_some(n))
            .collect();
            if !missing.is_empty() {
                why.push(format!("{name} lacks {}", missing.join(", ")));
                continue;
            }
            // SAFETY: `pd` comes from this instance.
            let families = unsafe { instance.get_physical_device_queue_family_properties(pd) };
            let Some(qf) = families
                .iter()
                .position(|q| q.queue_flags.contains(vk::QueueFlags::COMPUTE))
            else {
                why.push(format!("{name} has no compute queue"));
                continue;
            };
            let prio = [1.0f32];
            let queues = [vk::DeviceQueueCreateInfo::default()
                .queue_family_index(qf as u32)
                .queue_priorities(&prio)];
            let features = vk::PhysicalDeviceFeatures::default()
                .shader_float64(true)
                .shader_int64(true);
            let mut want12 =
                vk::PhysicalDeviceVulkan12Features::default().buffer_device_address(true);
            let info = vk::DeviceCreateInfo::default()
                .queue_create_infos(&queues)
                .enabled_features(&features)
                .push_next(&mut want12);
            // SAFETY: `info` and what it points to outlive the call.
            let device = match unsafe { instance.create_device(pd, &info, None) } {
                Ok(d) => d,
                Err(e) => {
                    why.push(format!("{name}: cannot open it: {e}"));
                    continue;
                }
            };
            // SAFETY: the family and index were requested above.
            let queue = unsafe { device.get_device_queue(qf as u32, 0) };
            let pool_info = vk::CommandPoolCreateInfo::default()
                .queue_family_index(qf as u32)
                .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER);
            // SAFETY: the device is live.
            let pool = match unsafe { device.create_command_pool(&pool_info, None) } {
                Ok(p) => p,
                Err(e) => {
                    // SAFETY: nothing else was made from it.
                    unsafe { device.destroy_device(None) };
                    why.push(format!("{name}: no command pool: {e}"));
                    continue;
                }
            };
            // SAFETY: `pd` comes from this instance.
            let memory = unsafe { instance.get_physical_device_memory_properties(pd) };
            return Ok(Gpu {
                staged: false,
                dev: Arc::new(Dev {
                    _entry: entry,
                    instance,
                    device,
                    queue,
                    pool,
                    memory,
                    name,
                    subgroup: sub.subgroup_size,
                    cpu: props.device_type == vk::PhysicalDeviceType::CPU,
                }),
            });
        }
        let e = if why.is_empty() {
            GpuError("no Vulkan device (install a driver, e.g. mesa-vulkan-drivers for the CPU's lavapipe)".into())
        } else {
            GpuError(format!("no Vulkan device circ can use: {}", why.join("; ")))
        };
        Err((entry, instance, e))
    }

    /// The device's name (`llvmpipe (LLVM 15.0.6, 256 bits)` on lavapipe).
    pub fn name(&self) -> &str {
        &self.dev.name
    }

    /// The same device, its device buffers read and written through staging
    /// copies as on a discrete GPU whose memory the host cannot map (to
    /// test that path on lavapipe, whose memory the host maps).
    pub fn staged(self) -> Gpu {
        Gpu {
            staged: true,
            ..self
        }
    }

    /// Invocations per subgroup (32 on NVIDIA, lavapipe's vector width).
    pub fn subgroup_size(&self) -> u32 {
        self.dev.subgroup
    }

    /// Whether the device is a driver running on the CPU (lavapipe).
    pub fn is_cpu(&self) -> bool {
        self.dev.cpu
    }

    /// Bytes of the largest device-local memory heap (what state, synapses
    /// and rings must fit in; on lavapipe, the machine's memory).
    pub fn device_memory(&self) -> u64 {
        let m = &self.dev.memory;
        m.memory_heaps[..m.memory_heap_count as usize]
            .iter()
            .filter(|h| h.flags.contains(vk::MemoryHeapFlags::DEVICE_LOCAL))
            .map(|h| h.size)
            .max()
            .unwrap_or(0)
    }

    /// A zeroed buffer of `len` bytes (at least 8) in device-local memory,
    /// where kernels read and write it fastest; mapped when that memory is
    /// also host-visible (lavapipe, integrated GPUs), else read and written
    /// through staging copies.
    pub fn buffer(&self, len: usize) -> R<Buffer> {
        self.make(len, vk::MemoryPropertyFlags::DEVICE_LOCAL, !self.staged)
    }

    /// A zeroed buffer of `len` bytes (at least 8) in host-visible, coherent
    /// memory: what the host fills or reads every batch (staging).
    pub fn host_buffer(&self, len: usize) -> R<Buffer> {
        self.make(
            len,
            vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT,
            true,
        )
    }

    /// A buffer in the first memory type with `want` (any type if none),
    /// mapped if `map` and the host can.
    fn make(&self, len: usize, want: vk::MemoryPropertyFlags, map: bool) -> R<Buffer> {
        let size = len.max(8) as u64;
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(
                vk::BufferUsageFlags::STORAGE_BUFFER
                    | vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS
                    | vk::BufferUsageFlags::TRANSFER_SRC
                    | vk::BufferUsageFlags::TRANSFER_DST,
            )
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        // SAFETY: the device is live; `info` outlives the call.
        let buffer = unsafe { self.dev.device.create_buffer(&info, None) }
            .map_err(vkerr("cannot make a buffer"))?;
        // SAFETY: `buffer` was just made from this device.
        let req = unsafe { self.dev.device.get_buffer_memory_requirements(buffer) };
        let types = &self.dev.memory.memory_types[..self.dev.memory.memory_type_count as usize];
        let fits = |i: usize| req.memory_type_bits & (1 << i) != 0;
        let ty = (0..types.len())
            .find(|&i| fits(i) && types[i].property_flags.contains(want))
            .or_else(|| (0..types.len()).find(|&i| fits(i)));
        let Some(ty) = ty else {
            // SAFETY: unused, made here.
            unsafe { self.dev.device.destroy_buffer(buffer, None) };
            return Err(GpuError("no memory type for a buffer".into()));
        };
        let host = vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT;
        let mappable = map && types[ty].property_flags.contains(host);
        if want.contains(host) && !mappable {
            // SAFETY: unused, made here.
            unsafe { self.dev.device.destroy_buffer(buffer, None) };
            return Err(GpuError("no host-visible memory to stage copies in".into()));
        }
        let mut flags =
            vk::MemoryAllocateFlagsInfo::default().flags(vk::MemoryAllocateFlags::DEVICE_ADDRESS);
        let alloc = vk::MemoryAllocateInfo::default()
            .allocation_size(req.size)
            .memory_type_index(ty as u32)
            .push_next(&mut flags);
        // SAFETY: the device is live; `alloc` outlives the call.
        let memory = match unsafe { self.dev.device.allocate_memory(&alloc, None) } {
            Ok(m) => m,
            Err(e) => {
                // SAFETY: unused, made here.
                unsafe { self.dev.device.destroy_buffer(buffer, None) };
                return Err(GpuError(format!(
                    "cannot allocate {size} bytes on the device: {e}"
                )));
            }
        };
        // Dropped on the error paths below (unmapping memory never mapped
        // is what Drop avoids: `ptr` null).
        let mut b = Buffer {
            dev: self.dev.clone(),
            buffer,
            memory,
            ptr: std::ptr::null_mut(),
            len,
            address: 0,
        };
        // SAFETY: memory and buffer are from this device, unbound.
        unsafe {
            self.dev
                .device
                .bind_buffer_memory(buffer, memory, 0)
                .map_err(vkerr("cannot bind memory"))?;
        }
        let info = vk::BufferDeviceAddressInfo::default().buffer(buffer);
        // SAFETY: the buffer is bound and was made with SHADER_DEVICE_ADDRESS.
        b.address = unsafe { self.dev.device.get_buffer_device_address(&info) };
        if mappable {
            // SAFETY: the mapping covers the allocation, which is bound.
            let ptr = unsafe {
                self.dev
                    .device
                    .map_memory(memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
                    .map_err(vkerr("cannot map memory"))?
            };
            b.ptr = ptr.cast();
            // SAFETY: the mapping is at least `size` bytes; zero it.
            unsafe { std::ptr::write_bytes(b.ptr, 0, size as usize) };
        } else {
            let mut rec = self.record()?;
            rec.zero(&b, 0, (size as usize) & !3);
            rec.run()?;
        }
        Ok(b)
    }

    /// A compute kernel of SPIR-V `words` (entry point `main`) with
    /// `push_size` bytes of push constants.
    pub fn kernel(&self, words: &[u32], push_size: u32) -> R<Kernel> {
        let info = vk::ShaderModuleCreateInfo::default().code(words);
        // SAFETY: the device is live; `info` outlives the call.
        let module = unsafe { self.dev.device.create_shader_module(&info, None) }
            .map_err(vkerr("the driver refused the SPIR-V module"))?;
        let ranges = [vk::PushConstantRange::default()
            .stage_flags(vk::ShaderStageFlags::COMPUTE)
            .offset(0)
            .size(push_size)];
        let linfo = vk::PipelineLayoutCreateInfo::default().push_constant_ranges(&ranges);
        let mut k = Kernel {
            dev: self.dev.clone(),
            module,
            layout: vk::PipelineLayout::null(),
            pipeline: vk::Pipeline::null(),
        };
        // SAFETY: the device is live; `linfo` outlives the call.
        k.layout = unsafe { self.dev.device.create_pipeline_layout(&linfo, None) }
            .map_err(vkerr("cannot make a pipeline layout"))?;
        let main: &CStr = c"main";
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(module)
            .name(main);
        let pinfo = [vk::ComputePipelineCreateInfo::default()
            .stage(stage)
            .layout(k.layout)];
        // SAFETY: module and layout are live; `pinfo` outlives the call.
        let made = unsafe {
            self.dev
                .device
                .create_compute_pipelines(vk::PipelineCache::null(), &pinfo, None)
        };
        k.pipeline = match made {
            Ok(p) => p[0],
            Err((_, e)) => {
                return Err(GpuError(format!(
                    "the driver cannot compile the kernel: {e}"
                )));
            }
        };
        Ok(k)
    }

    /// Runs `k` once over `groups` workgroups with these push constants,
    /// and waits for it.
    pub fn dispatch(&self, k: &Kernel, push: &[u8], groups: u32) -> R<()> {
        let d = &self.dev.device;
        let ainfo = vk::CommandBufferAllocateInfo::default()
            .command_pool(self.dev.pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: the pool is live; everything recorded refers to live
        // objects, and the fence wait ends the buffer's use before it is freed.
        unsafe {
            let cb = d
                .allocate_command_buffers(&ainfo)
                .map_err(vkerr("no command buffer"))?[0];
            let run = || -> R<()> {
                let begin = vk::CommandBufferBeginInfo::default()
                    .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
                d.begin_command_buffer(cb, &begin)
                    .map_err(vkerr("cannot record"))?;
                d.cmd_bind_pipeline(cb, vk::PipelineBindPoint::COMPUTE, k.pipeline);
                d.cmd_push_constants(cb, k.layout, vk::ShaderStageFlags::COMPUTE, 0, push);
                d.cmd_dispatch(cb, groups, 1, 1);
                d.end_command_buffer(cb).map_err(vkerr("cannot record"))?;
                let fence = d
                    .create_fence(&vk::FenceCreateInfo::default(), None)
                    .map_err(vkerr("no fence"))?;
                let cbs = [cb];
                let submit = [vk::SubmitInfo::default().command_buffers(&cbs)];
                let done = d
                    .queue_submit(self.dev.queue, &submit, fence)
                    .and_then(|()| d.wait_for_fences(&[fence], true, u64::MAX));
                d.destroy_fence(fence, None);
                done.map_err(vkerr("the kernel failed"))
            };
            let r = run();
            d.free_command_buffers(self.dev.pool, &[cb]);
            r
        }
    }
    /// Starts recording commands that run together ([`Recording::run`]).
    pub fn record(&self) -> R<Recording<'_>> {
        let ainfo = vk::CommandBufferAllocateInfo::default()
            .command_pool(self.dev.pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        let d = &self.dev.device;
        // SAFETY: the pool is live; the buffer is freed by the Recording.
        let cb =
            unsafe { d.allocate_command_buffers(&ainfo) }.map_err(vkerr("no command buffer"))?[0];
        let mut r = Recording {
            dev: self.dev.clone(),
            cb,
            _uses: std::marker::PhantomData,
        };
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: a new buffer from this device's pool.
        unsafe { d.begin_command_buffer(cb, &begin) }.map_err(vkerr("cannot record"))?;
        // After what earlier submissions wrote (a fence wait alone does not
        // make device writes visible to later device reads).
        r.barrier();
        Ok(r)
    }
}

/// Commands recorded to run on the device: dispatches, copies and fills.
/// Commands between two [`Recording::barrier`]s may run at the same time
/// (in any order); a barrier makes everything before it finish, its writes
/// visible, before anything after it starts. The recording starts with a
/// barrier (after earlier submissions) and ends with one (for the host).
/// The kernels and buffers named must outlive it.
pub struct Recording<'a> {
    dev: Arc<Dev>,
    cb: vk::CommandBuffer,
    _uses: std::marker::PhantomData<&'a ()>,
}

impl<'a> Recording<'a> {
    /// Makes every earlier command's writes visible to every later one.
    pub fn barrier(&mut self) {
        self.barrier_to(false);
    }

    /// A barrier before later commands, or with `host`, before the host
    /// reads.
    fn barrier_to(&mut self, host: bool) {
        let all = vk::PipelineStageFlags::COMPUTE_SHADER | vk::PipelineStageFlags::TRANSFER;
        let (dst_stage, dst_access) = if host {
            (vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ)
        } else {
            (
                all,
                vk::AccessFlags::SHADER_READ
                    | vk::AccessFlags::SHADER_WRITE
                    | vk::AccessFlags::TRANSFER_READ
                    | vk::AccessFlags::TRANSFER_WRITE,
            )
        };
        let mb = [vk::MemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::SHADER_WRITE | vk::AccessFlags::TRANSFER_WRITE)
            .dst_access_mask(dst_access)];
        // SAFETY: the command buffer is recording.
        unsafe {
            self.dev.device.cmd_pipeline_barrier(
                self.cb,
                all,
                dst_stage,
                vk::DependencyFlags::empty(),
                &mb,
                &[],
                &[],
            );
        }
    }

    /// Runs `k` over `groups` workgroups with these push constants.
    pub fn dispatch(&mut self, k: &'a Kernel, push: &[u8], groups: u32) {
        if groups == 0 {
            return;
        }
        let d = &self.dev.device;
        // SAFETY: recording; the kernel outlives the recording ('a).
        unsafe {
            d.cmd_bind_pipeline(self.cb, vk::PipelineBindPoint::COMPUTE, k.pipeline);
            d.cmd_push_constants(self.cb, k.layout, vk::ShaderStageFlags::COMPUTE, 0, push);
            d.cmd_dispatch(self.cb, groups, 1, 1);
        }
    }

    /// Copies `len` bytes from `src` at `from` to `dst` at `to`.
    pub fn copy(&mut self, src: &'a Buffer, from: usize, dst: &'a Buffer, to: usize, len: usize) {
        if len == 0 {
            return;
        }
        let region = [vk::BufferCopy {
            src_offset: from as u64,
            dst_offset: to as u64,
            size: len as u64,
        }];
        // SAFETY: recording; both buffers outlive it and the caller keeps
        // the ranges inside them.
        unsafe {
            self.dev
                .device
                .cmd_copy_buffer(self.cb, src.buffer, dst.buffer, &region);
        }
    }

    /// Sets `len` bytes of `dst` from `at` to zero (`at` and `len`
    /// multiples of 4).
    pub fn zero(&mut self, dst: &'a Buffer, at: usize, len: usize) {
        if len == 0 {
            return;
        }
        // SAFETY: recording; the buffer outlives it.
        unsafe {
            self.dev
                .device
                .cmd_fill_buffer(self.cb, dst.buffer, at as u64, len as u64, 0);
        }
    }

    /// Submits the commands and waits for them to finish.
    pub fn run(mut self) -> R<()> {
        self.barrier_to(true);
        let d = &self.dev.device;
        // SAFETY: the buffer was recorded from live objects that outlive
        // this call ('a); the fence wait ends its use.
        unsafe {
            d.end_command_buffer(self.cb)
                .map_err(vkerr("cannot record"))?;
            let fence = d
                .create_fence(&vk::FenceCreateInfo::default(), None)
                .map_err(vkerr("no fence"))?;
            let cbs = [self.cb];
            let submit = [vk::SubmitInfo::default().command_buffers(&cbs)];
            let done = d
                .queue_submit(self.dev.queue, &submit, fence)
                .and_then(|()| d.wait_for_fences(&[fence], true, u64::MAX));
            d.destroy_fence(fence, None);
            done.map_err(vkerr("the device failed running the steps"))
        }
    }
}

impl Drop for Recording<'_> {
    fn drop(&mut self) {
        // SAFETY: `run` waited for the device, or the buffer was never
        // submitted; it comes from this device's pool.
        unsafe {
            self.dev
                .device
                .free_command_buffers(self.dev.pool, &[self.cb]);
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        // SAFETY: buffers and kernels hold the Dev, so none is alive; the
        // queue is idle after the wait.
        unsafe {
            let _ = self.device.device_wait_idle();
            self.device.destroy_command_pool(self.pool, None);
            self.device.destroy_device(None);
            self.instance.destroy_instance(None);
        }
    }
}

impl Buffer {
    /// Whether the host reads and writes the buffer directly (else through
    /// a staging copy).
    pub fn mapped(&self) -> bool {
        !self.ptr.is_null()
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The device it lives on, to stage copies through.
    fn gpu(&self) -> Gpu {
        Gpu {
            dev: self.dev.clone(),
            staged: false,
        }
    }

    /// Copies `bytes` to the start of the buffer (nothing on the device
    /// may be running: every submission here waits for its end).
    pub fn write(&mut self, bytes: &[u8]) -> R<()> {
        if bytes.len() > self.len.max(8) {
            return Err(GpuError(format!(
                "{} bytes into a buffer of {}",
                bytes.len(),
                self.len
            )));
        }
        if !self.mapped() {
            let gpu = self.gpu();
            let mut stage = gpu.host_buffer(bytes.len())?;
            stage.write(bytes)?;
            let mut rec = gpu.record()?;
            rec.copy(&stage, 0, self, 0, bytes.len());
            return rec.run();
        }
        // SAFETY: the mapping holds at least `len` bytes and nothing on the
        // device runs (dispatch waits).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr, bytes.len()) };
        Ok(())
    }

    /// The buffer's bytes.
    pub fn read(&self) -> R<Vec<u8>> {
        if !self.mapped() {
            let gpu = self.gpu();
            let stage = gpu.host_buffer(self.len)?;
            let mut rec = gpu.record()?;
            rec.copy(self, 0, &stage, 0, self.len);
            rec.run()?;
            return stage.read();
        }
        let mut v = vec![0u8; self.len];
        // SAFETY: as in `write`.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr, v.as_mut_ptr(), self.len) };
        Ok(v)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: no dispatch is running (each waits); made from this device.
        unsafe {
            if !self.ptr.is_null() {
                self.dev.device.unmap_memory(self.memory);
            }
            self.dev.device.destroy_buffer(self.buffer, None);
            self.dev.device.free_memory(self.memory, None);
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: no dispatch is running (each waits); made from this device.
        unsafe {
            let d = &self.dev.device;
            if self.pipeline != vk::Pipeline::null() {
                d.destroy_pipeline(self.pipeline, None);
            }
            if self.layout != vk::PipelineLayout::null() {
                d.destroy_pipeline_layout(self.layout, None);
            }
            d.destroy_shader_module(self.module, None);
        }
    }
}
