//! GPU kernels against the interpreter (issue 17, first part): every
//! population `dynamic`, `init`, `update` and `reset` kernel of every
//! example that the SPIR-V generator translates, run once on the first
//! Vulkan device (Mesa's lavapipe in CI), gives the interpreter's bits in
//! every variable: time-dependent parameters, initial values with their
//! random draws, a step from them with refractory neurons, and resets of
//! the neurons whose spike bit is set (and their refractory periods). Without a Vulkan
//! device the test fails and says why (scripts/install-deps installs
//! lavapipe). And a network larger than the device's memory is refused,
//! from its estimate, before its synapses are built.

mod common;

use circ_codegen_spirv::push;
use circ_ir::plan::{FnKind, Plan, PopPhase};
use circ_runtime::sim::{Backend, StepCtx};

fn bytes(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn floats(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect()
}

/// Runs function `f` (a population kernel) once over the population on
/// the GPU, from `vars`, at step `ctx`; the variables after it.
fn on_gpu(
    gpu: &circ_gpu::Gpu,
    words: &[u32],
    vars: &[Vec<f64>],
    ctx: &StepCtx<'_>,
    n: usize,
    count: usize,
    spiking: &[u32],
) -> Result<(Vec<Vec<f64>>, Vec<f64>), String> {
    let kernel = gpu.kernel(words, push::SIZE).map_err(|e| e.to_string())?;
    let mut bufs = vec![];
    for v in vars {
        let mut b = gpu.buffer(v.len() * 8).map_err(|e| e.to_string())?;
        b.write(&bytes(v)).map_err(|e| e.to_string())?;
        bufs.push(b);
    }
    let table: Vec<u8> = bufs.iter().flat_map(|b| b.address.to_le_bytes()).collect();
    let mut tb = gpu.buffer(table.len()).map_err(|e| e.to_string())?;
    tb.write(&table).map_err(|e| e.to_string())?;
    let mut rb = gpu.buffer(n * 8).map_err(|e| e.to_string())?;
    let r: Vec<u8> = ctx.ref_until.iter().flat_map(|x| x.to_le_bytes()).collect();
    rb.write(&r).map_err(|e| e.to_string())?;
    let mut words = vec![0u32; n.div_ceil(32)];
    for &i in spiking {
        words[i as usize / 32] |= 1 << (i % 32);
    }
    let w: Vec<u8> = words.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut sb = gpu.buffer(w.len()).map_err(|e| e.to_string())?;
    sb.write(&w).map_err(|e| e.to_string())?;
    let refr = gpu.buffer(n * 8).map_err(|e| e.to_string())?;
    let mut pc = vec![0u8; push::SIZE as usize];
    let mut put = |o: u32, x: [u8; 8]| pc[o as usize..o as usize + 8].copy_from_slice(&x);
    put(push::TABLE, tb.address.to_le_bytes());
    put(push::START, 0u64.to_le_bytes());
    put(push::COUNT, (count as u64).to_le_bytes());
    put(push::T, ctx.t.to_le_bytes());
    put(push::DT, ctx.dt.to_le_bytes());
    put(push::STEP, ctx.step.to_le_bytes());
    put(push::SEED, ctx.seed.to_le_bytes());
    put(push::REF_UNTIL, rb.address.to_le_bytes());
    put(push::SPIKES, sb.address.to_le_bytes());
    put(push::REFR, refr.address.to_le_bytes());
    let groups = (count as u32).div_ceil(circ_codegen_spirv::LOCAL_SIZE);
    gpu.dispatch(&kernel, &pc, groups)
        .map_err(|e| e.to_string())?;
    let read = |b: &circ_gpu::Buffer| b.read().map(|x| floats(&x)).map_err(|e| e.to_string());
    Ok((
        bufs.iter().map(read).collect::<Result<_, _>>()?,
        read(&refr)?,
    ))
}

#[test]
fn translated_population_kernels_give_the_interpreters_bits_on_the_gpu() {
    let gpu = circ_gpu::Gpu::open().unwrap_or_else(|e| panic!("no GPU to test on: {e}"));
    eprintln!("device: {}", gpu.name());
    let (mut checked, mut values) = (0, 0usize);
    let mut phases = std::collections::BTreeSet::new();
    for (file, net) in common::lowered_examples() {
        let plan = Plan::new(&net);
        let interp = circ_interp::Interp::new(&net);
        for (f, func) in plan.functions.iter().enumerate() {
            let FnKind::Pop(
                p,
                phase @ (PopPhase::Init | PopPhase::Update | PopPhase::Dynamic | PopPhase::Reset),
            ) = func.kind
            else {
                continue;
            };
            if circ_codegen_spirv::supported(&net, &plan, f).is_err() {
                continue;
            }
            let pop = &net.layout.pops[p];
            let n = pop.size;
            // Every fifth neuron refractory in step 5.
            let ref_until: Vec<i64> = (0..n).map(|i| if i % 5 == 0 { 7 } else { -1 }).collect();
            let ctx0 = StepCtx {
                step: 0,
                t: 0.0,
                dt: 1e-4,
                seed: 3,
                ref_until: &ref_until,
                span: circ_runtime::sim::ALL,
            };
            let mut vars: Vec<Vec<f64>> = pop
                .vars
                .iter()
                .map(|v| vec![0.0; if v.scalar { 1 } else { n }])
                .collect();
            let later = StepCtx {
                step: 5,
                t: 5e-4,
                ..ctx0
            };
            // Time-dependent parameters at step 5 from nothing; initial
            // values from the scalars (draws included); an update from the
            // initial values, five steps in.
            if phase != PopPhase::Dynamic {
                interp.dynamic(p, &mut vars, &ctx0);
            }
            let ctx = if phase == PopPhase::Dynamic {
                later
            } else if phase == PopPhase::Init {
                ctx0
            } else {
                interp.init(p, &mut vars, &ctx0);
                later
            };
            let mut want = vars.clone();
            // A reset for every third neuron, as if they had fired.
            let spiking: Vec<u32> = (0..n as u32).filter(|i| i % 3 == 1).collect();
            let mut refr_want = vec![];
            match phase {
                PopPhase::Init => interp.init(p, &mut want, &ctx),
                PopPhase::Dynamic => interp.dynamic(p, &mut want, &ctx),
                PopPhase::Reset => interp.reset(p, &mut want, &ctx, &spiking, &mut refr_want),
                _ => interp.update(p, &mut want, &ctx),
            }
            let count = if phase == PopPhase::Dynamic { 1 } else { n };
            let words = circ_codegen_spirv::compile(&net, &plan, f)
                .unwrap_or_else(|e| panic!("{file} {}: {e}", func.name));
            let (got, refr) = on_gpu(&gpu, &words, &vars, &ctx, n, count, &spiking)
                .unwrap_or_else(|e| panic!("{file} {}: {e}", func.name));
            for (&i, w) in spiking.iter().zip(&refr_want) {
                let g = refr[i as usize];
                assert_eq!(
                    g.to_bits(),
                    w.to_bits(),
                    "{file} {}: refractory period of {i}: {g:e} on the GPU, {w:e} in the interpreter",
                    func.name
                );
            }
            for (v, got) in got.iter().enumerate() {
                for (i, (g, w)) in got.iter().zip(&want[v]).enumerate() {
                    assert!(
                        g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
                        "{file} {}: {}[{i}] is {g:e} on the GPU, {w:e} in the interpreter",
                        func.name,
                        pop.vars[v].name
                    );
                }
                values += got.len();
            }
            checked += 1;
            phases.insert(phase.name());
        }
    }
    eprintln!("measured: {checked} kernels ({phases:?}), {values} values identical");
    assert!(checked >= 40, "only {checked} kernels checked");
    assert_eq!(phases.len(), 4, "{phases:?}");
}

#[test]
fn a_network_larger_than_the_devices_memory_is_refused_before_it_is_built() {
    // 4 x 10^10 synapses: the estimate refuses it at once (building them
    // would take hours and hundreds of GiB).
    let dir = std::env::temp_dir().join(format!("circ-gpu-too-large-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let model = dir.join("big.circ");
    std::fs::write(
        &model,
        "use std::neurons::LIF\nuse std::synapses::ExpCurr\ncircuit Big {\n    population E = LIF[200000]\n    project E -> E : ExpCurr connect all_to_all\n    record spikes of E\n}\nrun Big for 10 ms\n",
    )
    .expect("write");
    let out = dir.join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_circ"))
        .args(["run", "--color", "never", "--backend", "gpu", "--out"])
        .arg(&out)
        .arg(&model)
        .output()
        .expect("run circ");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("of device memory (4.000e10 synapses)") && err.contains(" has "),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.exists(), "an output folder was written");
}
