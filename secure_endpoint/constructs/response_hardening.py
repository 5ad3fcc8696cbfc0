"""Output hardening: the model's answer rounded, truncated or cut to labels before it leaves.

The model is untouched: API Gateway rewrites the integration response with a mapping template
(VTL) before it leaves, so the capture and the monitors see the model's own numbers and only
the caller sees less. Rounding the probabilities, keeping only the top classes or
answering with the label alone raises the queries an extraction or a decision-boundary search
needs (Tramèr et al. 2016, "Stealing Machine Learning Models via Prediction APIs").

Shapes understood (anything else is answered 500 ``internal_error``, never passed on):
``{"predictions": [...]}``, a bare list, a single number or object; each row a number (one
score, e.g. the positive class's probability), a list of numbers (one per class), or an object
with ``probabilities``, ``probability``, ``scores`` or ``score`` (a number or a list of numbers)
and/or ``label`` or ``predicted_label`` (a string, number or boolean) and no other key.
docs/response-hardening.md says why and how.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from secure_endpoint.constructs import _validation as check
from secure_endpoint.runtime.hardening import EXACT_DIGITS, FIELDS, LABEL, LABELS, harden

MAX_DECIMALS = 6
"""The most decimals a probability keeps (more would hide nothing)."""
FAILED_BODY = (
    '{"error":"internal_error","message":"Internal error; retry later.",'
    '"requestId":"$context.requestId"}'
)
"""What a response the template does not understand becomes (status 500): the same body as
every other internal error, nothing of what the model said."""


@dataclass(frozen=True, kw_only=True)
class ResponseHardening:
    """Less of the model's answer in each response: ``SecureEndpoint(response_hardening=...)``.

    Applied by API Gateway to every 200 response of the inference method (the model, its
    capture and its monitoring still see full precision). A response whose shape is not
    understood (see the module docstring) becomes a 500 ``internal_error``: failing closed, so
    a model update that changes its output cannot silently leak raw scores.

    :param probability_decimals: round every probability and score to this many decimals
        (0-6, half away from zero), or None to leave the numbers as they are. A number of
        ``10**(15 - decimals)`` or more (1e13 at 2 decimals) is refused. Default: - 2
    :param top_k: keep only the ``top_k`` largest values of each list of class probabilities
        or scores (the others become 0; ties go to the lower index), at least 1.
        Default: - every class
    :param label_only: answer with the label alone: a row object's own ``label``, else the
        index of the largest value of a list, else (one number per row, a probability) 1 when
        it is at least ``label_threshold``, 0 otherwise (a number outside 0-1 is refused).
        Excludes ``top_k`` and ``probability_decimals``. Default: - false
    :param label_threshold: with ``label_only``, the probability from which a single number is
        the positive label, strictly between 0 and 1. Default: - 0.5
    """

    probability_decimals: int | None = 2
    top_k: int | None = None
    label_only: bool = False
    label_threshold: float = 0.5

    def __post_init__(self) -> None:
        prefix = "response_hardening."
        decimals, top_k = self.probability_decimals, self.top_k
        if decimals is not None:
            check.int_range(f"{prefix}probability_decimals", decimals, 0, MAX_DECIMALS)
        if top_k is not None:
            check.int_range(f"{prefix}top_k", top_k, 1, 1000)
        check.boolean(f"{prefix}label_only", self.label_only)
        threshold = self.label_threshold
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0 < threshold < 1
        ):
            raise ValueError(
                f"{prefix}label_threshold must be a number strictly between 0 and 1, "
                f"got {threshold!r}"
            )
        if self.label_only:
            if top_k is not None:
                raise ValueError(
                    f"{prefix}label_only returns no probabilities to keep the top of: leave "
                    f"{prefix}top_k out (got top_k={top_k!r})"
                )
            if decimals not in (None, 2):
                raise ValueError(
                    f"{prefix}label_only returns no probabilities to round: leave "
                    f"{prefix}probability_decimals at its default (got {decimals!r})"
                )
        elif threshold != 0.5:
            raise ValueError(
                f"{prefix}label_threshold ({threshold!r}) applies to label_only, which is False"
            )
        elif decimals is None and top_k is None:
            raise ValueError(
                f"{prefix}: probability_decimals=None, top_k=None and label_only=False leave "
                "nothing to harden; give one of them (or no response_hardening)"
            )

    def response_template(self) -> str:
        """The integration response mapping template (VTL) that applies these settings."""
        return _Template(self).render()

    def apply(self, body: Any) -> Any:
        """What the API returns for the model's answer ``body`` (parsed JSON), as the template
        does it (``secure_endpoint.runtime.hardening``); raises ``Refused`` where the API
        answers 500. For local stand-ins of the API."""
        return harden(
            body,
            probability_decimals=self.probability_decimals,
            top_k=self.top_k,
            label_only=self.label_only,
            label_threshold=self.label_threshold,
        )


class _Template:
    """Writes the VTL on one line (nothing between directives reaches the body).

    Written for API Gateway's Velocity and its Java objects: JSON numbers are ``Number``s
    (``longValue()``), lists ``List``s (``size()``, ``contains()``), objects ``Map``s
    (``containsKey()``, ``keySet()``); types are told apart by which method answers, with
    ``"$!{...}"`` (empty when it does not). No ``Math``: a number is rounded as a whole count
    of ``10**-decimals`` units (``(|x| * 10**d + 0.5).longValue()``) and written back with
    integer ``/`` and ``%``. Every variable is set before any loop (Velocity's are global,
    airspeed's loop-scoped), and every value read from a map or a list is reset first
    (Velocity 1.7's ``#set`` of a null keeps the old value).
    """

    def __init__(self, hardening: ResponseHardening) -> None:
        self.h = hardening

    # --- tests of a value's type: an expression true when ``$name`` is one -----------------
    @staticmethod
    def is_number(name: str) -> str:
        return f'"$!{{{name}.doubleValue()}}" != ""'

    @staticmethod
    def is_map(name: str) -> str:
        return f'"$!{{{name}.containsKey(\'\')}}" != ""'

    @classmethod
    def is_list(cls, name: str) -> str:
        return f'"$!{{{name}.size()}}" != "" && !({cls.is_map(name)})'

    @staticmethod
    def is_scalar_label(name: str) -> str:
        return (
            f'"$!{{{name}.length()}}" != "" || "$!{{{name}.doubleValue()}}" != "" '
            f'|| "$!{{{name}.booleanValue()}}" != ""'
        )

    # --- pieces -----------------------------------------------------------------------------
    @staticmethod
    def each(item: str, index: str, items: str, body: str) -> str:
        """``body`` for each ``$<item>`` (at ``$<index>``) of the list ``$<items>``, read with
        ``get`` after a reset: a null element is then ``$none`` (which no check takes), where
        ``#foreach`` could leave the previous element in place."""
        last = f"{index}Last"
        return (
            f"#set(${last} = ${items}.size() - 1)"
            f"#if(${last} >= 0)#foreach(${index} in [0..${last}])"
            f"#set(${item} = $none)#set(${item} = ${items}.get(${index})){body}"
            "#end#end"
        )

    def formatted(self, source: str) -> str:
        """Sets ``$s`` to ``$<source>`` rounded and written as JSON, or clears ``$ok``."""
        decimals = self.h.probability_decimals
        if decimals is None:
            return f'#set($s = "${{{source}}}")'
        scale = 10**decimals
        # |x| < 10**(15 - d) as (|x| / 10**k) < 10**(15 - d - k), both literals Velocity ints
        exponent = EXACT_DIGITS - decimals
        low, high = 10 ** (exponent // 2), 10 ** (exponent - exponent // 2)
        if decimals:
            written = (
                f"#set($ip = $m / {scale})#set($fp = $m % {scale})"
                f'#set($fs = "{"0" * decimals}${{fp}}")'
                # (Velocity takes no arithmetic among a method's arguments)
                f"#set($cut = $fs.length() - {decimals})#set($fs = $fs.substring($cut))"
                '#set($s = "${ip}.${fs}")'
            )
        else:
            written = '#set($s = "${m}")'
        return (
            f"#set($neg = false)#set($a = ${source})"
            f"#if(${source} < 0)#set($neg = true)#set($a = 0 - ${source})#end"
            # integer or floating division alike: floor(y) < n exactly when y < n
            f"#if($a >= 0 && $a / {low} < {high})"
            # a floating multiplication: no int overflow, whatever Velocity does with ints
            f"#set($t = $a * {scale}.0 + 0.5)#set($m = $t.longValue()){written}"
            '#if($neg && $m > 0)#set($s = "-${s}")#end'
            '#{else}#set($ok = false)#set($s = "0")#end'
        )

    def zero(self) -> str:
        decimals = self.h.probability_decimals
        return "0." + "0" * decimals if decimals else "0"

    def top(self, k: int) -> str:
        """Sets ``$keep`` to the indexes of the ``k`` largest numbers of ``$v`` (and ``$best``
        to the largest's, -1 for an empty list); ties go to the lower index."""
        return (
            "#set($keep = [])#set($best = -1)"
            f"#foreach($round in [1..{k}])"
            "#set($best = -1)#set($bestValue = 0)"
            + self.each(
                "e",
                "j",
                "v",
                "#if(!$keep.contains($j) && ($best < 0 || $e > $bestValue))"
                "#set($best = $j)#set($bestValue = $e)#end",
            )
            + "#if($best >= 0)#set($unused = $keep.add($best))#end"
            "#end"
            # $best must be the largest one, not the k-th
            "#if($keep.size() > 0)#set($best = $keep.get(0))#end"
        )

    def value(self) -> str:
        """Sets ``$vs`` to ``$v`` (a number or a list of numbers) hardened, or clears ``$ok``."""
        h = self.h
        if h.label_only:
            threshold = format(h.label_threshold, ".17f").rstrip("0")
            number = (
                "#if($v >= 0 && $v <= 1)"
                f'#if($v >= {threshold})#set($vs = "1")#{{else}}#set($vs = "0")#end'
                "#{else}#set($ok = false)#end"
            )
            vector = self.top(1) + '#if($best < 0)#set($ok = false)#{else}#set($vs = "${best}")#end'
        else:
            number = self.formatted("v") + '#set($vs = "${s}")'
            keep = "" if h.top_k is None else self.top(h.top_k)
            element = self.formatted("e")
            if h.top_k is not None:
                element = f'#if($keep.contains($j)){element}#{{else}}#set($s = "{self.zero()}")#end'
            vector = (
                f'{keep}#set($vs = "[")'
                + self.each(
                    "e",
                    "j",
                    "v",
                    f'#if($j > 0)#set($vs = "${{vs}},")#end{element}#set($vs = "${{vs}}${{s}}")',
                )
                + '#set($vs = "${vs}]")'
            )
        return (
            '#set($vs = "")'
            f"#if({self.is_number('v')}){number}"
            f"#elseif({self.is_list('v')})"
            + self.each("e", "j", "v", f"#if(!({self.is_number('e')}))#set($ok = false)#end")
            + f"#if($ok){vector}#end"
            "#{else}#set($ok = false)#end"
        )

    def row_object(self) -> str:
        """Sets ``$rs`` to the row object ``$r`` hardened, or clears ``$ok``."""
        allowed = " && ".join(f'$k != "{key}"' for key in (*FIELDS, *LABELS))
        fields = ", ".join(f'"{f}"' for f in FIELDS)
        labels = ", ".join(f'"{f}"' for f in LABELS)
        head = (
            f"#foreach($k in $r.keySet())#if({allowed})#set($ok = false)#end#end"
            "#if($r.size() == 0)#set($ok = false)#end"
            # the labels as the model wrote them (API Gateway's own JSON), each a scalar
            '#set($labs = "")#set($lsep = "")'
            f"#foreach($lk in [{labels}])#if($r.containsKey($lk))"
            "#set($lab = $none)#set($lab = $r.get($lk))"
            f"#if(!({self.is_scalar_label('lab')}))#set($ok = false)#end"
            '#set($labJson = $input.json("${lp}.${lk}"))'
            '#set($labs = "${labs}${lsep}${q}${lk}${q}:${labJson}")#set($lsep = ",")'
            "#end#end"
        )
        if self.h.label_only:
            body = (
                '#if($labs != "")#set($rs = "{${labs}}")'
                "#{else}#set($found = false)"
                f"#foreach($field in [{fields}])"
                "#if(!$found && $r.containsKey($field))#set($found = true)"
                f"#set($v = $none)#set($v = $r.get($field)){self.value()}#end"
                "#end"
                f'#if($found)#set($rs = "{{${{q}}{LABEL}${{q}}:${{vs}}}}")'
                "#{else}#set($ok = false)#end"
                "#end"
            )
        else:
            body = (
                '#set($rs = "{")#set($fsep = "")'
                f"#foreach($field in [{fields}])"
                "#if($r.containsKey($field))"
                f"#set($v = $none)#set($v = $r.get($field)){self.value()}"
                '#set($rs = "${rs}${fsep}${q}${field}${q}:${vs}")#set($fsep = ",")'
                "#end"
                "#end"
                '#if($labs != "")#set($rs = "${rs}${fsep}${labs}")#end'
                '#set($rs = "${rs}}")'
            )
        return head + body

    def render(self) -> str:
        # every variable set inside a loop, set first outside (airspeed scopes loops; Velocity not)
        names = ("out", "rows", "wrap", "preds", "lp", "rs", "i", "v", "vs", "s", "a", "neg", "t",
                 "m", "ip", "fp", "fs", "cut", "keep", "best", "bestValue", "j", "unused", "labs",
                 "lsep", "lab", "labJson", "found", "fsep", "r", "e", "iLast", "jLast")  # fmt: skip
        setup = (
            "#set($ok = true)#set($q = '\"')#set($d = '$')#set($none = {})"
            + "".join(f'#set(${name} = "")' for name in names)
            + "#set($rows = [])#set($root = $none)#set($root = $input.path('$'))"
        )
        shape = (
            f'#if({self.is_list("root")})#set($rows = $root)#set($wrap = "list")'
            f"#elseif({self.is_map('root')})"
            '#if($root.size() == 1 && $root.containsKey("predictions"))'
            '#set($preds = $none)#set($preds = $root.get("predictions"))'
            f'#if({self.is_list("preds")})#set($rows = $preds)#set($wrap = "predictions")'
            "#{else}#set($ok = false)#end"
            '#{else}#set($rows = [$root])#set($wrap = "single")#end'
            f'#elseif({self.is_number("root")})#set($rows = [$root])#set($wrap = "single")'
            "#{else}#set($ok = false)#end"
        )
        rows = self.each(
            "r",
            "i",
            "rows",
            "#if($ok)"
            '#if($wrap == "list")#set($lp = "${d}[${i}]")'
            '#elseif($wrap == "predictions")#set($lp = "${d}.predictions[${i}]")'
            "#{else}#set($lp = $d)#end"
            f'#set($rs = "")#if({self.is_map("r")}){self.row_object()}'
            f"#{{else}}#set($v = $none)#set($v = $r){self.value()}#set($rs = $vs)#end"
            '#if($i > 0)#set($out = "${out},")#end#set($out = "${out}${rs}")'
            "#end",
        )
        emit = (
            "#if($ok)"
            '#if($wrap == "list")[${out}]'
            '#elseif($wrap == "predictions"){"predictions":[${out}]}'
            "#{else}${out}#end"
            f"#{{else}}#set($context.responseOverride.status = 500){FAILED_BODY}#end"
        )
        return setup + shape + rows + emit
