"""Level-4 decision gates: proposals held until approved, edited or rejected.

A scenario declares which message classes (``federate.endpoint`` of the sender) need
approval.  When a federate sends such a message, the coordinator holds that federate's
step -- so everything that depends on it waits at that instant -- until a decision
arrives from

* a policy in the scenario (rules that approve, edit, reject, or ask a human),
* an operator at the terminal (``federation run --interactive``), or
* a program on the control endpoint (``federation run --control tcp://127.0.0.1:5600``).

``--autonomy full`` (level 5) lets the policy decide everything.  Every proposal and its
decision -- verdict, who or what decided, any edit -- is recorded in the run store.
"""

from __future__ import annotations

import enum
import json
import logging
import queue
import sys
import threading
from dataclasses import dataclass, field
from time import monotonic, time
from typing import TYPE_CHECKING, Any, Callable, Mapping

import zmq

from ..access import Access
from ..address import is_loopback
from ..api.interface import PayloadField
from ..app.progress import StatusLine
from ..errors import FederationError
from ..scenario.decisions import Answer, DecisionSpec, ForecastSpec, Rule, Verdict
from .edit import Declared, EditRefused, apply_edit

if TYPE_CHECKING:
    from ..app.prompt import TerminalPrompt

log = logging.getLogger(__name__)

__all__ = ["Verdict", "Autonomy", "Answer", "ForecastSpec", "Rule", "DecisionSpec", "Proposal", "Decision", "DecisionGate"]
# Verdict, Answer, ForecastSpec, Rule and DecisionSpec are the scenario's decisions: section
# (federation.scenario.decisions, parsed when the scenario is loaded); here they are applied.


class Autonomy(str, enum.Enum):
    ASSISTED = "assisted"  # level 4: policy first, humans for what the policy leaves open
    FULL = "full"  # level 5: the policy decides everything; no human is asked


@dataclass
class Proposal:
    id: int
    tick: int
    time: float
    message_class: str
    payload: Any
    targets: tuple[str, ...]
    created: float = field(default_factory=monotonic)
    forecast: ForecastSpec | None = None  # the forecasts its rule asks for while it is held
    forecasts: list[dict[str, Any]] = field(default_factory=list)  # their state and results (federation.engine.forecast)
    held_by: str = ""  # why a human is asked: the rule that said 'ask', or that none matched

    def time_left(self, timeout: float | None) -> float | None:
        """Wall seconds until the default applies (None: no time limit)."""
        return None if timeout is None else max(0.0, timeout - (monotonic() - self.created))

    def describe(self) -> str:
        payload = json.dumps(self.payload, sort_keys=True)
        return f"t={self.time:g} s  {self.message_class} -> {', '.join(self.targets) or '?'}  proposes {payload}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "time": self.time, "class": self.message_class, "payload": self.payload,
                "targets": list(self.targets), "held_by": self.held_by,
                **({"forecasts": [dict(f) for f in self.forecasts]} if self.forecast is not None else {})}  # fmt: skip


@dataclass(frozen=True)
class Decision:
    proposal: int
    verdict: Verdict  # APPROVE, EDIT or REJECT
    decided_by: str
    payload: Any = None  # the final payload (edited) when not rejected
    note: str = ""
    decided_at: str = ""  # ISO-8601 UTC; empty: when it is recorded (a replayed decision keeps the recorded one)


# ----------------------------------------------------------------------------- the gate
class DecisionGate:
    """Decides proposals: policy at once; humans through the terminal or the control endpoint.

    ``schemas`` maps ``federate.endpoint`` to the payload fields that endpoint declares;
    an edit is checked against those of the proposal's class and of its receivers.
    Thread-safe: the terminal prompt answers from its own thread.
    """

    def __init__(self, spec: DecisionSpec, *, autonomy: Autonomy = Autonomy.ASSISTED, interactive: bool = False,
                 control: str | None = None, context: zmq.Context[Any] | None = None,
                 prompt_in: Any = None, prompt_out: Any = None,
                 schemas: Mapping[str, Mapping[str, PayloadField]] | None = None,
                 access: Access | None = None, answers: Mapping[int, Answer] | None = None) -> None:  # fmt: skip
        self.spec = spec
        self.answers = dict(answers or {})  # decision id -> the answer given for it (``federation fork --answer``)
        self.answered: list[int] = []  # the ids of ``answers`` that were proposed and answered so far
        self.access = access  # when set, every control request carries a token (docs/console.md)
        self.history: list[dict[str, Any]] = []  # every decision, in order, for the console's feed
        self.autonomy = autonomy
        self.schemas = dict(schemas or {})
        self.pending: dict[int, Proposal] = {}
        self.decided: queue.SimpleQueue[Decision] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._next_id = 1
        self.sockets: list[zmq.Socket[Any]] = []
        self.control: zmq.Socket[Any] | None = None
        self.control_address: str | None = None
        humans = autonomy is Autonomy.ASSISTED
        if humans and control:
            self._bind_control(control, context)
        self.prompt: TerminalPrompt | None = None
        if humans and interactive:
            from ..app.prompt import TerminalPrompt

            line = prompt_out if isinstance(prompt_out, StatusLine) else StatusLine(prompt_out or sys.stderr)
            self.prompt = TerminalPrompt(self, prompt_in or sys.stdin, line)
        self.status: Callable[[], dict[str, Any]] = dict

    def __repr__(self) -> str:
        return f"<DecisionGate {self.autonomy.value} pending={sorted(self.pending)}>"

    def _bind_control(self, control: str, context: zmq.Context[Any] | None) -> None:
        assert context is not None
        if not is_loopback(control):
            raise FederationError(f"the decision control endpoint {control} must be on loopback "
                                  "(it is not encrypted); reach it through an SSH tunnel")  # fmt: skip
        self.control = context.socket(zmq.ROUTER)
        self.control.setsockopt(zmq.LINGER, 0)
        if control.count(":") >= 2:
            self.control.bind(control)
            self.control_address = self.control.getsockopt_string(zmq.LAST_ENDPOINT)
        else:
            self.control_address = f"{control}:{self.control.bind_to_random_port(control)}"
        self.sockets.append(self.control)

    @property
    def has_humans(self) -> bool:
        return self.control is not None or (self.prompt is not None and self.prompt.open)

    def propose(self, tick: int, seconds: float, message_class: str, payload: Any,
                targets: tuple[str, ...]) -> tuple[int, Decision | None]:  # fmt: skip
        """Register a proposal; return its id and the decision when the policy settles it at once."""
        proposal = Proposal(self._next_id, tick, seconds, message_class, payload, targets)
        self._next_id += 1
        answer = self.answers.get(proposal.id)
        decision = self._settle(proposal) if answer is None else self._given(proposal, answer)
        if decision is not None:
            self._remember(proposal, decision)
        return proposal.id, decision

    def _remember(self, proposal: Proposal, decision: Decision) -> None:
        """Keep a decision for the console (a list the coordinator's thread reads; appends are atomic)."""
        self.history.append({**proposal.to_json(), "verdict": decision.verdict.past, "decided_by": decision.decided_by,
                             "final": decision.payload, "note": decision.note, "at": time()})  # fmt: skip

    def _settle(self, proposal: Proposal) -> Decision | None:
        for index, rule in enumerate(self.spec.rules, start=1):
            if not rule.matches(proposal):
                continue
            who = f"policy rule {index}" + (f" (line {rule.line})" if rule.line else "")
            if rule.verdict is Verdict.ASK:
                proposal.held_by = who + (f": {rule.note}" if rule.note else "")
                proposal.forecast = rule.forecast
                break
            decision = self._policy(proposal, rule.verdict, who, rule)
            if decision is not None:
                return decision
            break
        else:
            if not self.has_humans:
                return self._policy(proposal, self.spec.default, "policy default", None)
            proposal.held_by = "no policy rule matched"
        if not self.has_humans:
            return self._policy(proposal, self.spec.default, "policy default (no operator)", None)
        with self._lock:
            self.pending[proposal.id] = proposal
        if self.prompt is not None and self.prompt.open:
            self.prompt.show(proposal)
        if proposal.forecast is not None and self.on_held is not None:
            self.on_held(proposal)
        return None

    def _given(self, proposal: Proposal, answer: Answer) -> Decision:
        """The answer given for this decision on the command line (``federation fork --answer``)."""
        payload = proposal.payload
        if answer.verdict is Verdict.EDIT:
            try:
                payload = apply_edit(proposal.payload, dict(answer.changes or {}), self._declared(proposal))
            except EditRefused as exc:
                raise FederationError(f"--answer {proposal.id}={answer.describe()}: decision {proposal.id} "
                                      f"({proposal.describe()}) cannot be edited so: {exc}") from None  # fmt: skip
        self.answered.append(proposal.id)
        final = None if answer.verdict is Verdict.REJECT else payload
        return Decision(proposal.id, answer.verdict, f"fork --answer {answer.describe()}", final)

    def _policy(self, proposal: Proposal, verdict: Verdict, who: str, rule: Rule | None) -> Decision | None:
        """The policy's decision; None when an edit rule's changes do not fit (then it is asked)."""
        payload = proposal.payload
        if verdict is Verdict.EDIT and rule is not None:
            try:
                payload = apply_edit(proposal.payload, dict(rule.set), self._declared(proposal))
            except EditRefused as exc:
                log.warning("decision %d: %s cannot edit %s: %s; it is decided as 'ask'", proposal.id, who,
                            proposal.message_class, exc)  # fmt: skip
                return None
        final = None if verdict is Verdict.REJECT else payload
        return Decision(proposal.id, verdict, who, final, rule.note if rule else "")

    def _declared(self, proposal: Proposal) -> Declared:
        """The payload fields declared by the proposal's class and by the endpoints receiving it."""
        declared: dict[str, tuple[tuple[str, PayloadField], ...]] = {}
        for where in (proposal.message_class, *proposal.targets):
            for name, spec in self.schemas.get(where, {}).items():
                declared[name] = (*declared.get(name, ()), (where, spec))
        return declared

    def declared_fields(self, proposal: Proposal) -> dict[str, list[dict[str, Any]]]:
        """The declarations an edit of ``proposal`` must fit, as JSON: field -> [{by, type, low, high, choices, doc}]."""
        return {name: [{"by": where, "type": getattr(spec.type, "__name__", str(spec.type)), "low": spec.low,
                        "high": spec.high, "choices": list(spec.choices) if spec.choices is not None else None,
                        "doc": spec.doc} for where, spec in declarations]
                for name, declarations in self._declared(proposal).items()}  # fmt: skip

    def decide(self, proposal_id: int, verdict: Verdict, who: str, payload: Any = None, note: str = "", *,
               told: str | None = None, here: bool = False) -> str | None:  # fmt: skip
        """A human's answer (any thread); returns why it is refused, or None.

        A refused answer changes nothing: the proposal stays pending.  ``told`` is what the
        terminal says about it (default: "approved by ..."); ``here``: typed at the terminal.
        """
        if verdict not in (Verdict.APPROVE, Verdict.EDIT, Verdict.REJECT):
            return f"verdict must be approve, edit or reject, not {verdict.value}"
        with self._lock:
            proposal = self.pending.get(proposal_id)
            if proposal is None:
                return f"no pending proposal {proposal_id}"
            if verdict is Verdict.EDIT:
                if payload is None:
                    return "an edit needs a payload: the fields to change, e.g. {\"opening\": 0.5}"
                try:
                    final = apply_edit(proposal.payload, payload, self._declared(proposal))
                except EditRefused as exc:
                    return str(exc)
            else:
                final = None if verdict is Verdict.REJECT else proposal.payload
            del self.pending[proposal_id]
        decision = Decision(proposal_id, verdict, who, final, note)
        self._remember(proposal, decision)
        self.decided.put(decision)
        if self.prompt is not None:
            self.prompt.closed(proposal_id, told or f"{verdict.past} by {who}", here=here)
        return None

    def expire(self) -> None:
        """Apply the default to proposals a human left unanswered past the timeout."""
        limit = self.spec.timeout
        if limit is None:
            return
        now = monotonic()
        with self._lock:
            overdue = [pid for pid, proposal in self.pending.items() if now - proposal.created > limit]
        verdict = self.spec.default
        for pid in overdue:
            self.decide(pid, verdict, f"timeout default after {limit:g} s",
                        told=f"no answer in {limit:g} s: {verdict.past} (the default)")  # fmt: skip

    def terminal_closed(self, on_screen: int) -> None:
        """End of input at the terminal: the default for the proposal on screen, and for the
        other open ones unless a control endpoint can still decide them."""
        verdict = self.spec.default
        with self._lock:
            others = [pid for pid in self.pending if pid != on_screen] if self.control is None else []
        for pid in (on_screen, *others):
            self.decide(pid, verdict, "terminal closed: default", told=f"end of input: {verdict.past} (the default)")

    on_checkpoint: Callable[[], None] | None = None  # the control endpoint's `checkpoint` op (the coordinator sets it)
    on_held: Callable[[Proposal], None] | None = None  # a proposal with forecasts is held (the coordinator forecasts)

    def say(self, text: str) -> None:
        """Tell the operator at the terminal (above the question), when there is one."""
        if self.prompt is not None and self.prompt.open:
            self.prompt.say(text)

    def serve_control(self) -> None:
        """Answer every request waiting on the control endpoint (JSON over ZeroMQ)."""
        sock = self.control
        if sock is None:
            return
        while True:
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            reply = self._control_request(parts[-1])
            sock.send_multipart([*parts[:-1], json.dumps(reply, default=str).encode()])  # keep the envelope (REQ)

    def _control_request(self, raw: bytes) -> dict[str, Any]:
        try:
            request = json.loads(raw)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
        except ValueError as exc:
            return {"ok": False, "error": f"bad request: {exc}"}
        op = request.get("op")
        user = None
        if self.access is not None:
            user = self.access.user(request.get("token"))
            if user is None:
                log.warning("control endpoint: refused a request without a valid token")
                return {"ok": False, "error": "unauthorized: the request needs a valid 'token'"}
        if op == "pending":
            with self._lock:
                pending = [p.to_json() for p in self.pending.values()]
            return {"ok": True, "pending": pending}
        if op == "status":
            return {"ok": True, **self.status(), "pending": len(self.pending)}
        if op == "decide":
            try:
                verdict = Verdict(request.get("verdict"))
                pid = int(request["id"])
            except (ValueError, KeyError, TypeError):
                return {"ok": False, "error": "decide needs 'id' and 'verdict' (approve, edit, reject)"}
            if user is not None and not user.role.may_decide:
                return {"ok": False, "error": f"forbidden: {user.name} is a {user.role.value} and cannot decide"}
            via = "web console" if request.get("via") == "console" else "control endpoint"
            who = f"{via}: {user.name if user is not None else request.get('by', 'anonymous')}"
            error = self.decide(pid, verdict, who, request.get("payload"), str(request.get("note", "")))
            return {"ok": error is None, **({"error": error} if error else {})}
        if op == "checkpoint":  # docs/what-if.md
            if self.on_checkpoint is None:
                return {"ok": False, "error": "this run cannot take checkpoints"}
            if user is not None and not user.role.may_decide:
                return {"ok": False, "error": f"forbidden: {user.name} is a {user.role.value} and cannot ask for a checkpoint"}
            self.on_checkpoint()
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r} (expected pending, decide, status, checkpoint)"}

    def close(self) -> None:
        if self.control is not None:
            self.control.close(0)
        if self.prompt is not None:
            self.prompt.stop()
