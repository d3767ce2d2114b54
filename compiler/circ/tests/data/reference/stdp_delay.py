#!/usr/bin/env python3
"""Pair-based additive STDP through a delayed synapse, in Brian2 2.11 and NEST 3.10.

Each of the pairings below is its own synapse between its own pre and post
spike trains (spike generators), so the results are independent. Rule
(all-to-all traces, no bounds reached, w(0) = 0.5):
  dx/dt = -x / 20 ms (pre trace), dy/dt = -y / 20 ms (post trace)
  on pre:  x += 0.01;    w += y
  on post: y += -0.0105; w += x
The synaptic delay is 8 ms (steps of dt = 0.1 ms).

Brian2: Synapses with on_pre delayed by 8 ms (the whole on_pre, traces
included, at arrival) and an undelayed on_post; x, y synaptic variables,
'exact' (clock-driven) integration.
NEST: spike_generator -> parrot_neuron -> stdp_synapse(delay 8 ms,
lambda = 0.01, alpha = 1.05, mu_plus = mu_minus = 0, Wmax = 1,
tau_plus = 20 ms) -> parrot_neuron (receptor 1: not repeated) driven by
its own spike_generator; tau_minus = 20 ms on the post neuron. NEST's delay
is dendritic: the pre spike acts on the synapse at emission, post spikes
reach it after the delay.

Writes stdp_delay.csv: pairing, pre spike times, post spike times (ms),
final w in Brian2, final w in NEST.
"""
import csv
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DELAY = 8.0  # ms
# (pre spike times, post spike times) in ms.
PAIRINGS = [
    ([30.0], [30.0 + d]) for d in (-20.0, -10.0, -4.0, -1.0, 0.0, 1.0, 4.0, 7.0, 8.0, 9.0, 12.0, 20.0)
] + [
    ([20.0, 50.0], [25.0, 52.0]),
    ([20.0, 30.0, 40.0], [35.0]),
    ([30.0], [10.0, 26.0, 40.0]),
]
T_END = 100.0


def brian2_weights():
    import brian2 as b2
    b2.prefs.codegen.target = "numpy"
    b2.defaultclock.dt = 0.1 * b2.ms
    n = len(PAIRINGS)
    pre_i, pre_t, post_i, post_t = [], [], [], []
    for k, (pre, post) in enumerate(PAIRINGS):
        pre_i += [k] * len(pre)
        pre_t += pre
        post_i += [k] * len(post)
        post_t += post
    pre = b2.SpikeGeneratorGroup(n, pre_i, pre_t * b2.ms)
    post = b2.SpikeGeneratorGroup(n, post_i, post_t * b2.ms)
    syn = b2.Synapses(
        pre, post,
        model="""w : 1
                 dx/dt = -x / (20*ms) : 1 (clock-driven)
                 dy/dt = -y / (20*ms) : 1 (clock-driven)""",
        on_pre="x += 0.01\nw += y",
        on_post="y += -0.0105\nw += x",
        method="exact",
    )
    syn.connect(j="i")
    syn.w = 0.5
    syn.pre.delay = DELAY * b2.ms
    b2.run(T_END * b2.ms)
    return [float(v) for v in syn.w[:]]


def nest_weights():
    import nest
    nest.ResetKernel()
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:
        nest.set_verbosity("M_ERROR")
    nest.set(resolution=0.1)
    out = []
    conns = []
    for pre_t, post_t in PAIRINGS:
        g_pre = nest.Create("spike_generator", params={"spike_times": pre_t})
        g_post = nest.Create("spike_generator", params={"spike_times": post_t})
        p_pre = nest.Create("parrot_neuron")
        p_post = nest.Create("parrot_neuron", params={"tau_minus": 20.0})
        nest.Connect(g_pre, p_pre, syn_spec={"delay": 0.1})
        nest.Connect(g_post, p_post, syn_spec={"delay": 0.1})
        nest.Connect(p_pre, p_post, syn_spec={
            "synapse_model": "stdp_synapse", "weight": 0.5, "delay": DELAY,
            "receptor_type": 1, "lambda": 0.01, "alpha": 1.05,
            "mu_plus": 0.0, "mu_minus": 0.0, "Wmax": 1.0, "tau_plus": 20.0,
        })
        conns.append((p_pre, p_post))
    nest.Simulate(T_END)
    for p_pre, p_post in conns:
        c = nest.GetConnections(p_pre, p_post)
        out.append(float(c.get("weight")))
    return out


def main():
    b = brian2_weights()
    n = nest_weights()
    with open(os.path.join(HERE, "stdp_delay.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["pairing", "pre_ms", "post_ms", "w_brian2", "w_nest"])
        for k, (pre, post) in enumerate(PAIRINGS):
            w.writerow([k, " ".join(f"{t:g}" for t in pre), " ".join(f"{t:g}" for t in post),
                        f"{b[k]:.17g}", f"{n[k]:.17g}"])


if __name__ == "__main__":
    main()
