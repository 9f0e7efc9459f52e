"""How a ``Prediction`` reads: plain sentences, and an HTML card for Jupyter."""

from __future__ import annotations

from kitlib.twin import BlockedEviction, Prediction

BLOCKED = Prediction(
    what="draining node-3", converged=False, convergence_time=None,
    blocked_evictions=(BlockedEviction(
        "pay-2", "PDB pay allows 0 disruptions (it needs 4 healthy pods and has 4; "
        "maxUnavailable: 0)", "pay"),),
    peak_unavailable={"cloneset/pay": 0, "deployment/web": 1},
    budgets={"cloneset/pay": 1, "deployment/web": 1},
    notes=("The node stays cordoned.",), timeout=600)


def test_a_blocked_drain_names_the_pod_and_the_budget() -> None:
    assert str(BLOCKED) == (
        "Draining node-3 blocks: pod pay-2 cannot be evicted: PDB pay allows 0 disruptions "
        "(it needs 4 healthy pods and has 4; maxUnavailable: 0). Peak unavailable: "
        "deployment/web 1 (budget 1). The node stays cordoned.")
    assert BLOCKED.blocked


def test_a_converging_operation_gives_its_time_and_rescheduled_pods() -> None:
    done = Prediction(what="draining node-5", converged=True, convergence_time=42.0,
                      pods_rescheduled=1)
    assert str(done) == ("Draining node-5 converges in 42 s of cluster time, with 1 pod "
                         "rescheduled. No workload had a pod unavailable.")
    late = Prediction(what="node node-2 failing", converged=False, convergence_time=None,
                      timeout=900, notes=("statefulset/db has 2 of 3 pods available.",))
    assert str(late).startswith("Node node-2 failing does not converge within 900 s")


def test_the_html_card_escapes_and_tabulates() -> None:
    card = Prediction(what="rolling <x>", converged=True, convergence_time=1,
                      peak_unavailable={"cloneset/a&b": 2}, budgets={"cloneset/a&b": 2}
                      )._repr_html_()
    assert "Rolling &lt;x&gt; converges" in card
    assert "<td>cloneset/a&amp;b</td><td>2</td><td>2</td>" in card
    assert "<b>Draining node-3 blocks: pod pay-2" in BLOCKED._repr_html_()
