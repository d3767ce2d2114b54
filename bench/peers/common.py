"""What every peer benchmark script shares: the command line, load and CPU
readings, and the one JSON line each prints for bench/bench.py."""
import argparse
import os
import time
import json
import resource

COMMON = ("--simulator", "--mode", "--target", "--method", "--duration", "--dt", "--threads",
          "--seed", "--build-dir")


def parser(doc, method=None):
    """The options before a script's own: simulator, Brian2 device and target, method."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--simulator", choices=["brian2", "nest"], default="brian2")
    ap.add_argument("--mode", choices=["runtime", "cpp_standalone"], default="cpp_standalone",
                    help="Brian2 device (ignored for NEST)")
    ap.add_argument("--target", choices=["cython", "numpy"], default="cython",
                    help="Brian2 runtime code-generation target")
    if method is not None:
        ap.add_argument("--method", default=method, help="Brian2 integration method")
    return ap


def run_options(ap, duration=1.0):
    """The options after a script's own: duration, dt, threads, seed, build folder."""
    ap.add_argument("--duration", type=float, default=duration, help="biological time [s]")
    ap.add_argument("--dt", type=float, default=0.1, help="time step [ms]")
    ap.add_argument("--threads", type=int, default=1,
                    help="NEST local_num_threads / Brian2 standalone OpenMP threads (1 = serial)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--build-dir", default=None, help="Brian2 standalone project directory")
    return ap


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def emit(args, benchmark, n_neurons, mode, n_syn, t_build, t_run, t_total, n_spikes, **extra):
    """Prints the run's one JSON line (bench/bench.py reads the last one)."""
    rec = dict(simulator=args.simulator, mode=mode, benchmark=benchmark,
               n_neurons=n_neurons, n_synapses=int(n_syn), duration_s=args.duration,
               dt_ms=args.dt, threads=args.threads, seed=args.seed,
               build_s=round(t_build, 4), run_s=round(t_run, 4), total_s=round(t_total, 4),
               n_spikes=int(n_spikes),
               mean_rate_hz=round(n_spikes / (n_neurons * args.duration), 4))
    rec.update(extra)
    rec["loadavg_1m_end"] = loadavg()
    print(json.dumps(rec), flush=True)


def brian2_start(b2, args):
    """Brian2's device, target, dt and seed; returns (standalone, load, wall, cpu) at the start."""
    from brian2 import ms
    standalone = args.mode == "cpp_standalone"
    if standalone:
        b2.set_device("cpp_standalone", build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = args.threads if args.threads > 1 else 0
    else:
        b2.prefs.codegen.target = args.target
    b2.BrianLogger.log_level_warn()
    load0 = loadavg()
    t0 = time.perf_counter()
    c0 = time.process_time() + child_cpu()
    b2.defaultclock.dt = args.dt * ms
    b2.seed(args.seed)
    return standalone, load0, t0, c0


def brian2_finish(b2, standalone, args, benchmark, n, t0, c0):
    """Builds and runs a standalone project (in --build-dir, or a folder per
    benchmark, size, threads and duration); returns (total wall, total CPU,
    loop time, the mode to report)."""
    if standalone:
        directory = args.build_dir or os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "build",
            f"{benchmark}_N{n}_T{args.threads}_D{args.duration:g}")
        b2.device.build(directory=directory, compile=True, run=True, debug=False)
    t_total = time.perf_counter() - t0
    cpu_total = time.process_time() + child_cpu() - c0
    mode = args.mode if standalone else f"runtime_{args.target}"
    return t_total, cpu_total, float(b2.device._last_run_time), mode


def nest_start(args):
    """A fresh NEST kernel at the run's dt, threads and seed; returns (nest, load, wall)."""
    import nest
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:
        nest.set_verbosity("M_ERROR")
    load0 = loadavg()
    t0 = time.perf_counter()
    nest.ResetKernel()
    nest.resolution = args.dt
    nest.local_num_threads = args.threads
    nest.rng_seed = args.seed
    return nest, load0, t0


def nest_run(nest, args):
    """Prepare (counted as build), the loop, cleanup; returns (t1, t2, c1, c2) around the loop."""
    nest.Prepare()
    t1, c1 = time.perf_counter(), time.process_time()
    nest.Run(args.duration * 1000.0)
    t2, c2 = time.perf_counter(), time.process_time()
    nest.Cleanup()
    return t1, t2, c1, c2


def size_options(ap):
    """A random network's size and connection probability (COBA, CUBA, COBAHH)."""
    ap.add_argument("--n-neurons", type=int, default=4000)
    ap.add_argument("--p", type=float, default=None,
                    help="connection probability (default 80/N = 0.02 at N=4000)")
