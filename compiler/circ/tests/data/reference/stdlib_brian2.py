#!/usr/bin/env python3
"""Reference traces of standard-library neurons, simulated by Brian2.

Each model is written here with the same equations, parameters, initial
values and integration method as in stdlib/neurons.circ; one neuron under a
constant drive. Writes std_<Model>.csv (t in s, the variable in SI units,
sampled at the start of every step, as Brian2's StateMonitor and circ's
recorders do) and std_<Model>_spikes.csv (spike times in s) next to this
script. The tests read the files and need no Python.

  python3 stdlib_brian2.py        # needs brian2 (pip install "brian2==2.11.*")
"""
import os
import brian2 as b2
from brian2 import mV, ms, nS, pF, nA, pA, Mohm, uF, mS, cm, uA, second, Hz

HERE = os.path.dirname(os.path.abspath(__file__))
b2.prefs.codegen.target = "numpy"
b2.BrianLogger.log_level_error()

MODELS = {
    "AdEx": dict(
        eqs="""
        dv/dt = (gL*(EL - v) + gL*DeltaT*exp((v - VT)/DeltaT) - w + I)/C : volt
        dw/dt = (a*(v - EL) - w)/tauw : amp
        """,
        ns=dict(C=281 * pF, gL=30 * nS, EL=-70.6 * mV, VT=-50.4 * mV, DeltaT=2 * mV,
                tauw=144 * ms, a=4 * nS, b=0.0805 * nA, Vr=-70.6 * mV, Vpeak=-40.4 * mV,
                I=1 * nA),
        threshold="v > Vpeak", reset="v = Vr; w += b", refractory=False,
        init=dict(v=-70.6 * mV, w=0 * nA), var="v", method="rk4", dt=0.1 * ms,
        duration=200 * ms),
    "EIF": dict(
        eqs="dv/dt = (EL - v + DeltaT*exp((v - VT)/DeltaT) + R*I)/tau_m : volt (unless refractory)",
        ns=dict(tau_m=10 * ms, EL=-65 * mV, VT=-50 * mV, DeltaT=2 * mV, Vr=-65 * mV,
                Vpeak=-40 * mV, R=100 * Mohm, I=0.2 * nA),
        threshold="v > Vpeak", reset="v = Vr", refractory=2 * ms,
        init=dict(v=-65 * mV), var="v", method="rk4", dt=0.1 * ms, duration=100 * ms),
    "QIF": dict(
        eqs="dv/dt = ((v - v_rest)*(v - v_c)/(v_c - v_rest) + R*I)/tau : volt",
        ns=dict(tau=10 * ms, v_rest=-65 * mV, v_c=-50 * mV, v_peak=30 * mV, v_reset=-70 * mV,
                R=100 * Mohm, I=0.2 * nA),
        threshold="v > v_peak", reset="v = v_reset", refractory=False,
        init=dict(v=-65 * mV), var="v", method="rk4", dt=0.1 * ms, duration=100 * ms),
    "FitzHughNagumo": dict(
        eqs="""
        dv/dt = (v - v**3/3 - w + I)/tau : 1
        dw/dt = eps*(v + a - b*w)/tau : 1
        """,
        ns=dict(a=0.7, b=0.8, eps=0.08, I=0.5, tau=1 * ms),
        threshold=None, reset=None, refractory=False,
        init=dict(v=-1.2, w=-0.6), var="v", method="rk4", dt=0.1 * ms, duration=200 * ms),
    "MorrisLecar": dict(
        eqs="""
        m_inf = 0.5*(1 + tanh((v - V1)/V2)) : 1
        w_inf = 0.5*(1 + tanh((v - V3)/V4)) : 1
        dv/dt = (I - gL*(v - EL) - gCa*m_inf*(v - ECa) - gK*w*(v - EK))/C : volt
        dw/dt = phi*(w_inf - w)*cosh((v - V3)/(2*V4)) : 1
        """,
        ns=dict(C=20 * uF / cm**2, gL=2 * mS / cm**2, gCa=4.4 * mS / cm**2, gK=8 * mS / cm**2,
                EL=-60 * mV, ECa=120 * mV, EK=-84 * mV, V1=-1.2 * mV, V2=18 * mV, V3=2 * mV,
                V4=30 * mV, phi=0.04 / ms, I=100 * uA / cm**2),
        threshold="v > 0*mV", reset=None, refractory=30 * ms,
        init=dict(v=-60 * mV, w=0.0149), var="v", method="rk4", dt=0.05 * ms,
        duration=300 * ms),
    "HindmarshRose": dict(
        eqs="""
        dx/dt = (y - a*x**3 + b*x**2 - z + I)/tau : 1
        dy/dt = (c - d*x**2 - y)/tau : 1
        dz/dt = r*(s*(x - x_R) - z)/tau : 1
        """,
        ns=dict(a=1, b=3, c=1, d=5, r=0.006, s=4, x_R=-1.6, I=3, tau=1 * ms),
        threshold="x > 1", reset=None, refractory=5 * ms,
        init=dict(x=-1.6, y=-10, z=2), var="x", method="rk4", dt=0.05 * ms,
        duration=500 * ms),
    "IafCondExp": dict(
        eqs="""
        dg_ex/dt = -g_ex/tau_syn_ex : siemens
        dg_in/dt = -g_in/tau_syn_in : siemens
        dV_m/dt = (g_L*(E_L - V_m) + g_ex*(E_ex - V_m) + g_in*(E_in - V_m) + I_e)/C_m : volt (unless refractory)
        """,
        ns=dict(C_m=250 * pF, g_L=16.6667 * nS, E_L=-70 * mV, E_ex=0 * mV, E_in=-85 * mV,
                V_th=-55 * mV, V_reset=-60 * mV, tau_syn_ex=0.2 * ms, tau_syn_in=2 * ms,
                I_e=500 * pA),
        threshold="V_m >= V_th", reset="V_m = V_reset", refractory=2 * ms,
        init=dict(V_m=-70 * mV), var="V_m", method="rk4", dt=0.1 * ms,
        duration=100 * ms),
    "AdaptiveThresholdLIF": dict(
        eqs="""
        dv/dt = (v_rest - v + R*I)/tau_m : volt (unless refractory)
        dth/dt = (th_rest - th)/tau_th : volt
        """,
        ns=dict(tau_m=20 * ms, tau_th=100 * ms, v_rest=-65 * mV, v_reset=-65 * mV,
                th_rest=-50 * mV, d_th=2 * mV, R=100 * Mohm, I=0.3 * nA),
        threshold="v > th", reset="v = v_reset; th += d_th", refractory=2 * ms,
        init=dict(v=-65 * mV, th=-50 * mV), var="v", method="exact", dt=0.1 * ms,
        duration=300 * ms),
    "LIF": dict(
        eqs="dv/dt = (v_rest - v + R*I)/tau_m : volt (unless refractory)",
        ns=dict(tau_m=20 * ms, v_rest=-65 * mV, v_th=-50 * mV, v_reset=-65 * mV,
                R=100 * Mohm, I=0.2 * nA),
        threshold="v > v_th", reset="v = v_reset", refractory=2 * ms,
        init=dict(v=-65 * mV), var="v", method="exact", dt=0.1 * ms, duration=100 * ms),
    "LIFCond": dict(
        eqs="dv/dt = (g_L*(E_L - v) + I)/C_m : volt (unless refractory)",
        ns=dict(C_m=200 * pF, g_L=10 * nS, E_L=-60 * mV, v_th=-50 * mV, v_reset=-60 * mV,
                I=0.15 * nA),
        threshold="v > v_th", reset="v = v_reset", refractory=5 * ms,
        init=dict(v=-60 * mV), var="v", method="exact", dt=0.1 * ms, duration=100 * ms),
    "Izhikevich": dict(
        eqs="""
        dv/dt = (0.04*v**2 + 5*v + 140 - u + I)/tau : 1
        du/dt = a*(b*v - u)/tau : 1
        """,
        ns=dict(a=0.02, b=0.2, c=-65, d=8, I=10, tau=1 * ms),
        threshold="v >= 30", reset="v = c; u += d", refractory=False,
        init=dict(v=-65, u=-13), var="v", method="euler", dt=0.1 * ms, duration=200 * ms),
    "HodgkinHuxley": dict(
        eqs="""
        alpha_m = 0.1/ms*(v/mV + 40)/(1 - exp(-(v/mV + 40)/10)) : Hz
        beta_m = 4/ms*exp(-(v/mV + 65)/18) : Hz
        alpha_h = 0.07/ms*exp(-(v/mV + 65)/20) : Hz
        beta_h = 1/ms/(1 + exp(-(v/mV + 35)/10)) : Hz
        alpha_n = 0.01/ms*(v/mV + 55)/(1 - exp(-(v/mV + 55)/10)) : Hz
        beta_n = 0.125/ms*exp(-(v/mV + 65)/80) : Hz
        dv/dt = (g_Na*m**3*h*(E_Na - v) + g_K*n**4*(E_K - v) + g_L*(E_L - v) + I)/C_m : volt
        dm/dt = alpha_m*(1 - m) - beta_m*m : 1
        dh/dt = alpha_h*(1 - h) - beta_h*h : 1
        dn/dt = alpha_n*(1 - n) - beta_n*n : 1
        """,
        ns=dict(C_m=1 * uF / cm**2, g_Na=120 * mS / cm**2, g_K=36 * mS / cm**2,
                g_L=0.3 * mS / cm**2, E_Na=50 * mV, E_K=-77 * mV, E_L=-54.387 * mV,
                I=10 * uA / cm**2),
        threshold="v > 0*mV", reset=None, refractory=3 * ms,
        init=dict(v=-65 * mV, m=0.05293248525724958, h=0.5961207535084603,
                  n=0.3176769140606974),
        var="v", method="exponential_euler", dt=0.01 * ms, duration=100 * ms),
    "WilsonCowan": dict(
        eqs="dr/dt = (-r + (1 - r)/(1 + exp(-gain*(I - theta))))/tau : 1",
        ns=dict(tau=10 * ms, gain=1.2, theta=2.8, I=4),
        threshold=None, reset=None, refractory=False,
        init=dict(r=0.1), var="r", method="exponential_euler", dt=0.1 * ms, duration=100 * ms),
    "ThresholdLinear": dict(
        eqs="dr/dt = (gain*clip(I - theta, 0, inf) - r)/tau : Hz",
        ns=dict(tau=10 * ms, gain=10 * Hz, theta=0, I=2),
        threshold=None, reset=None, refractory=False,
        init=dict(r=0 * Hz), var="r", method="exact", dt=0.1 * ms, duration=100 * ms),
    "SigmoidRate": dict(
        eqs="dr/dt = (r_max/(1 + exp(-gain*(I - theta))) - r)/tau : Hz",
        ns=dict(tau=10 * ms, r_max=100 * Hz, gain=4, theta=0.5, I=1),
        threshold=None, reset=None, refractory=False,
        init=dict(r=0 * Hz), var="r", method="exact", dt=0.1 * ms, duration=100 * ms),
    "TanhRate": dict(
        eqs="dx/dt = (tanh(gain*I) - x)/tau : 1",
        ns=dict(tau=10 * ms, gain=1, I=0.5),
        threshold=None, reset=None, refractory=False,
        init=dict(x=0), var="x", method="exact", dt=0.1 * ms, duration=100 * ms),
    "LTC": dict(
        eqs="""
        f = f_max/(1 + exp(-gamma_*(I - mu))) : Hz
        dx/dt = -(1/tau + f)*x + f*A : 1
        """,
        ns=dict(tau=20 * ms, f_max=100 * Hz, gamma_=3, mu=1, A=1, I=1.2),
        threshold=None, reset=None, refractory=False,
        init=dict(x=0), var="x", method="exponential_euler", dt=0.1 * ms, duration=100 * ms),
}


def run(name, m):
    b2.start_scope()
    b2.defaultclock.dt = m["dt"]
    kw = dict(method=m["method"], namespace=m["ns"])
    if m["threshold"]:
        kw["threshold"] = m["threshold"]
    if m["reset"]:
        kw["reset"] = m["reset"]
    if m["refractory"] is not False:
        kw["refractory"] = m["refractory"]
    g = b2.NeuronGroup(1, m["eqs"], **kw)
    for k, v in m["init"].items():
        setattr(g, k, v)
    mon = b2.StateMonitor(g, m["var"], record=0)
    net = b2.Network(g, mon)
    spikes = None
    if m["threshold"]:
        spikes = b2.SpikeMonitor(g)
        net.add(spikes)
    net.run(m["duration"], namespace=m["ns"])
    values = getattr(mon, m["var"] + "_")[0]
    with open(os.path.join(HERE, f"std_{name}.csv"), "w") as f:
        f.write(f"t,{m['var']}\n")
        for t, x in zip(mon.t_, values):
            f.write(f"{float(t)!r},{float(x)!r}\n")
    with open(os.path.join(HERE, f"std_{name}_spikes.csv"), "w") as f:
        f.write("t\n")
        if spikes is not None:
            for t in spikes.t_:
                f.write(f"{float(t)!r}\n")
    n = 0 if spikes is None else len(spikes.t_)
    print(f"{name}: {len(values)} samples, {n} spikes")


if __name__ == "__main__":
    for name, m in MODELS.items():
        run(name, m)
