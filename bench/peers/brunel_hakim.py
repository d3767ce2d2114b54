#!/usr/bin/env python3
"""Brunel & Hakim (1999): sparse inhibitory LIF network with white noise per neuron.

Exactly Brian2's documentation example ``brunel_hakim_1999.py``: N = 5000,
tau = 20 ms, V_r = 10 mV, theta = 20 mV, refractory 2 ms (threshold only, V
integrates on), mu_ext = 25 mV, sigma_ext = 1 mV (dV/dt = (-V + mu + sigma
sqrt(tau) xi) / tau, Euler), V(0) = V_r, connections with probability C/N =
0.2 (C = 1000), each spike V -= J = 0.1 mV after 2 ms. circ's twin:
examples/brunel_hakim1999.circ.

Brian2 only: NEST has no per-neuron white noise in an integrate-and-fire
model's membrane equation (its noise_generator is a current held for an
interval), so the comparison would not be of the same model.

Prints one JSON line with timings and spike statistics as its last output line.
"""
import sys

import common

BENCHMARK = "brunel_hakim"


def parse_args():
    ap = common.parser(__doc__, method="euler")
    ap.add_argument("--n-neurons", type=int, default=5000)
    common.run_options(ap, duration=1.0)
    return ap.parse_args()


def run_brian2(args):
    import brian2 as b2
    from brian2 import ms, mV, second
    standalone, load0, t0, c0 = common.brian2_start(b2, args)
    N = args.n_neurons
    ns = dict(tau=20 * ms, muext=25 * mV, sigmaext=1 * mV, Vr=10 * mV, theta=20 * mV,
              J=0.1 * mV)
    eqs = "dV/dt = (-V + muext + sigmaext * sqrt(tau) * xi) / tau : volt"
    group = b2.NeuronGroup(N, eqs, threshold="V > theta", reset="V = Vr",
                           refractory=2 * ms, method=args.method, namespace=ns)
    group.V = ns["Vr"]
    conn = b2.Synapses(group, group, on_pre="V += -J", delay=2 * ms, namespace=ns)
    conn.connect(p=1000.0 / N)
    mon = b2.SpikeMonitor(group)
    net = b2.Network(group, conn, mon)
    net.run(args.duration * second, namespace=ns)
    t_total, cpu_total, t_run, mode = common.brian2_finish(b2, standalone, args, BENCHMARK, N, t0, c0)
    common.emit(args, BENCHMARK, N, mode, len(conn), t_total - t_run, t_run, t_total,
                mon.num_spikes, cpu_total_s=round(cpu_total, 4), loadavg_1m_start=load0,
                method=args.method)


def main():
    args = parse_args()
    if args.simulator != "brian2":
        sys.exit("brunel_hakim: Brian2 only (NEST has no white-noise LIF of this form)")
    run_brian2(args)


if __name__ == "__main__":
    main()
