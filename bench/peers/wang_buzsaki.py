#!/usr/bin/env python3
"""Wang & Buzsaki (1996): gamma rhythm in a network of inhibitory interneurons.

The single-cell equations of Brian2's documentation example
``frompapers/Wang_Buszaki_1996.py`` (C_m = 1 uF/cm^2, g_Na = 35, g_K = 9,
g_L = 0.1 mS/cm^2, E_Na = 55, E_K = -90, E_L = -65 mV, phi = 5, m = m_inf(v)),
written per unit area, in the network of the paper: a presynaptic gate
ds/dt = alpha F(v) (1 - s) - beta s (alpha = 12/ms, beta = 0.1/ms,
F = 1 / (1 + exp(-(v - theta_syn) / 2 mV)), theta_syn = 0 mV) and the
synaptic current g s_pre (E_syn - v) summed over each cell's inputs
(E_syn = -75 mV, g = 0.1 mS/cm^2 / 100 per synapse, p = 100/N), N = 1000,
I_app ~ N(1, 0.03) uA/cm^2, v(0) ~ U(-70, -50) mV, h(0) = 0.78,
n(0) = 0.09, s(0) = 0; spikes are upward crossings of -20 mV (refractory
2 ms, detection only). RK4 at dt = 0.05 ms (the paper's fourth-order
Runge-Kutta). circ's twin: examples/wang_buzsaki1996.circ.

Brian2 only: NEST's models do not include this cell (it would need NESTML).

Prints one JSON line with timings and spike statistics as its last output line.
"""
import sys

import common

BENCHMARK = "wang_buzsaki"


def parse_args():
    ap = common.parser(__doc__, method="rk4")
    ap.add_argument("--n-neurons", type=int, default=1000)
    common.run_options(ap, duration=1.0)
    ap.set_defaults(dt=0.05)
    return ap.parse_args()


def run_brian2(args):
    import brian2 as b2
    from brian2 import ms, mV, second, uF, uA, msiemens, cm
    standalone, load0, t0, c0 = common.brian2_start(b2, args)
    N = args.n_neurons
    ns = dict(Cm=1 * uF / cm**2, gNa=35 * msiemens / cm**2, ENa=55 * mV,
              gK=9 * msiemens / cm**2, EK=-90 * mV, gL=0.1 * msiemens / cm**2, EL=-65 * mV,
              phi=5, alpha_s=12 / ms, beta_s=0.1 / ms, theta_syn=0 * mV,
              E_syn=-75 * mV, g=0.1 * msiemens / cm**2 / 100)
    eqs = """
    dv/dt = (gNa*m**3*h*(ENa-v) + gK*n**4*(EK-v) + gL*(EL-v) + I_app + I_syn)/Cm : volt
    m = alpha_m/(alpha_m+beta_m) : 1
    alpha_m = 0.1/mV*(v+35*mV)/(1-exp(-(v+35*mV)/(10*mV)))/ms : Hz
    beta_m = 4*exp(-(v+60*mV)/(18*mV))/ms : Hz
    dh/dt = phi*(alpha_h*(1-h)-beta_h*h) : 1
    alpha_h = 0.07*exp(-(v+58*mV)/(20*mV))/ms : Hz
    beta_h = 1./(exp(-0.1/mV*(v+28*mV))+1)/ms : Hz
    dn/dt = phi*(alpha_n*(1-n)-beta_n*n) : 1
    alpha_n = 0.01/mV*(v+34*mV)/(1-exp(-(v+34*mV)/(10*mV)))/ms : Hz
    beta_n = 0.125*exp(-(v+44*mV)/(80*mV))/ms : Hz
    ds/dt = alpha_s/(1+exp(-(v-theta_syn)/(2*mV)))*(1-s) - beta_s*s : 1
    I_app : amp/meter**2 (constant)
    I_syn : amp/meter**2
    """
    group = b2.NeuronGroup(N, eqs, threshold="v > -20*mV", refractory=2 * ms,
                           method=args.method, namespace=ns)
    group.v = "-70*mV + rand()*20*mV"
    group.h = 0.78
    group.n = 0.09
    group.I_app = "(1 + 0.03*randn())*uA/cm**2"
    syn = b2.Synapses(group, group, "I_syn_post = g*s_pre*(E_syn-v_post) : amp/meter**2 (summed)",
                      namespace=ns)
    syn.connect(p=100.0 / N)
    mon = b2.SpikeMonitor(group)
    net = b2.Network(group, syn, mon)
    net.run(args.duration * second, namespace=ns)
    t_total, cpu_total, t_run, mode = common.brian2_finish(b2, standalone, args, BENCHMARK, N, t0, c0)
    common.emit(args, BENCHMARK, N, mode, len(syn), t_total - t_run, t_run, t_total,
                mon.num_spikes, cpu_total_s=round(cpu_total, 4), loadavg_1m_start=load0,
                method=args.method)


def main():
    args = parse_args()
    if args.simulator != "brian2":
        sys.exit("wang_buzsaki: Brian2 only (NEST has no model of this cell)")
    run_brian2(args)


if __name__ == "__main__":
    main()
