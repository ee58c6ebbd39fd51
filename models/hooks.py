"""Hook points: one stable dotted name per module *call*, found by tracing one forward pass.

A module called once in a forward pass is named by its path in the model (`decoder.3.pool.1`). A module called
k > 1 times (diffusers' `ResnetBlock2D` applies its one `nonlinearity` after `norm1` and again after `norm2`) gives
k hook points, `<path>.call0` ... `<path>.call{k-1}`, in call order. Only calls that return a tensor are hook
points; `names()` lists them in execution order.

Hooks exist only while a `capturing` or `intervening` context is open: a plain forward pass runs no hook at all.
A capture stores a reference to the module's output, not a copy; the only exception is an output that the model
later changes in place (found while tracing), which is cloned so the capture keeps the value the call returned.
Every forward pass must run inside `forward_pass()`, which restarts the per-module call counters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from frobnoscope.models.errors import ModelError

Intervention = Callable[[torch.Tensor], torch.Tensor | None]


@dataclass(frozen=True)
class CallSite:
    name: str
    module: nn.Module
    call_index: int  # the module's k-th call within one forward pass
    mutated_later: bool  # the model changes this output in place after the call: captures must clone it


class CallSiteHooks:
    """Names and hooks for every module call of `root`. `trace()` runs one representative forward pass of the model
    (whatever entry points the adapter uses) so that the call sites can be counted."""

    def __init__(self, root: nn.Module, trace: Callable[[], None]):
        self._root = root
        self._trace = trace
        self._sites: dict[str, CallSite] | None = None
        self._calls: dict[int, int] = defaultdict(int)  # id(module) -> calls so far in this forward pass
        self._interventions: dict[tuple[int, int], list[Intervention]] = defaultdict(list)
        self._captures: dict[tuple[int, int], tuple[str, dict, bool]] = {}
        self._handles: dict[int, tuple[object, int]] = {}  # id(module) -> (hook handle, users)

    # --- names ---------------------------------------------------------------------------------

    def sites(self) -> dict[str, CallSite]:
        if self._sites is None:
            self._sites = self._find_sites()
        return self._sites

    def names(self) -> list[str]:
        return list(self.sites())

    def site(self, name: str) -> CallSite:
        sites = self.sites()
        if name not in sites:
            close = [n for n in sites if name in n][:5]
            hint = f"; similar: {', '.join(close)}" if close else "; list them with `frob models hooks SPEC`"
            raise ModelError(f"no hook point {name!r}{hint}")
        return sites[name]

    def _find_sites(self) -> dict[str, CallSite]:
        paths = {id(module): path for path, module in self._root.named_modules() if path}
        calls: list[tuple[nn.Module, int, object, int]] = []  # module, call index, output, output version
        counts: dict[int, int] = defaultdict(int)

        def record(module, args, output):
            k = counts[id(module)]
            counts[id(module)] += 1
            version = output._version if isinstance(output, torch.Tensor) else None
            calls.append((module, k, output, version))

        handles = [module.register_forward_hook(record) for path, module in self._root.named_modules() if path]
        try:
            self._trace()
        finally:
            for handle in handles:
                handle.remove()
        sites = {}
        for module, k, output, version in calls:
            if not isinstance(output, torch.Tensor):
                continue
            path = paths[id(module)]
            name = path if counts[id(module)] == 1 else f"{path}.call{k}"
            sites[name] = CallSite(name, module, k, mutated_later=output._version != version)
        return sites

    # --- hooks ---------------------------------------------------------------------------------

    @contextmanager
    def forward_pass(self) -> Iterator[None]:
        """Restart call counting: the k-th call of a module in this pass is its call site k."""
        self._calls.clear()
        yield

    @contextmanager
    def capturing(self, names: list[str]) -> Iterator[dict[str, torch.Tensor]]:
        """Yield a dict that each forward pass inside the context fills with {name: output of that call}."""
        sites = [self.site(name) for name in names]
        store: dict[str, torch.Tensor] = {}
        keys = [(id(site.module), site.call_index) for site in sites]
        for site, key in zip(sites, keys):
            if key in self._captures:
                raise ModelError(f"hook point {site.name!r} is already being captured")
            self._captures[key] = (site.name, store, site.mutated_later)
        modules = list({id(site.module): site.module for site in sites}.values())
        for module in modules:
            self._attach(module)
        try:
            yield store
        finally:
            for key in keys:
                self._captures.pop(key, None)
            for module in modules:
                self._detach(module)

    @contextmanager
    def intervening(self, name: str, fn: Intervention) -> Iterator[None]:
        """Replace the output of call site `name` by `fn(output)` (None from fn: keep the output) while open."""
        site = self.site(name)
        key = (id(site.module), site.call_index)
        self._interventions[key].append(fn)
        self._attach(site.module)
        try:
            yield
        finally:
            self._interventions[key].remove(fn)
            if not self._interventions[key]:
                del self._interventions[key]
            self._detach(site.module)

    def _attach(self, module: nn.Module) -> None:
        handle, users = self._handles.get(id(module), (None, 0))
        if handle is None:
            handle = module.register_forward_hook(self._on_call)
        self._handles[id(module)] = (handle, users + 1)

    def _detach(self, module: nn.Module) -> None:
        handle, users = self._handles[id(module)]
        if users == 1:
            handle.remove()
            del self._handles[id(module)]
        else:
            self._handles[id(module)] = (handle, users - 1)

    def _on_call(self, module: nn.Module, args, output):
        key = (id(module), self._calls[id(module)])
        self._calls[id(module)] += 1
        fns = self._interventions.get(key)
        if fns:
            for fn in fns:
                replaced = fn(output)
                if replaced is not None:
                    output = replaced
        capture = self._captures.get(key)
        if capture is not None:
            name, store, must_clone = capture
            store[name] = output.detach().clone() if must_clone else output.detach()
        return output if fns else None


class HookAccess:
    """The adapter protocol's `hook_points`, `capture` and `intervene`, for an adapter that keeps its model's
    `CallSiteHooks` in `self.hooks` and runs one pass of it in `forward(batch)`."""

    hooks: CallSiteHooks

    def hook_points(self) -> list[str]:
        """Every call site's stable dotted name, in execution order (see `CallSiteHooks`)."""
        return self.hooks.names()

    def capture(self, batch, names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Run `forward(batch)` and return {hook point: its output} for `names` (default: every hook point).
        Tensors are the model's own outputs, not copies; interventions in force are included."""
        names = self.hook_points() if names is None else list(names)
        with self.hooks.capturing(names) as store:
            self.forward(batch)
        return {name: store[name] for name in names}

    def intervene(self, name: str, fn: Intervention) -> AbstractContextManager[None]:
        """While the context is open, hook point `name` outputs `fn(output)` instead (ablation, steering);
        `fn` returning None keeps the (possibly in-place modified) output."""
        return self.hooks.intervening(name, fn)
