"""Records: their stable ids, and the schema of what each stage writes, field by field.

Every record that flows between stages is a JSON object (JSONL on disk) with an `id` derived
from its lineage (`make_id(parent_id, stage, index)`), so rerunning a stage recreates exactly
the same ids and the run store can skip what is already written. `parent` is the lineage link;
the store adds `input_id` to a stored line when the stage input that made it has another id,
which is how resume knows that an input is finished.

The TypedDicts below are the schema, written once: `Seed` (seeds), `Concept` (concepts),
`Instruction` (instructions), `Response` (responses), `Executed` (execute), `Selected` (select)
and `DatasetRow` (the exported dataset). Each field's annotation carries its description;
`docs/records.md` is generated from them (`selfcodealign records reference`), and a test keeps
it current. At every stage boundary, `problem(record, Type, needs)` checks an input record for
the fields the stage needs (a counted drop `missing_<field>` or `bad_<field>` instead of an
exception that would cost the batch), and `run_stage` checks each output against its type.
"""

# No `from __future__ import annotations` here: the TypedDicts must see real annotations to
# know which keys are NotRequired.
import hashlib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

import typing_extensions
from typing_extensions import NotRequired, TypedDict

ID_HEX_CHARS = 16  # 64 bits: collision odds about 1e-7 at the paper's 2.4M responses


def make_id(*parts: object) -> str:
    """A stable id from lineage parts (parent id, stage name, index, content, ...)."""
    h = hashlib.blake2b(digest_size=ID_HEX_CHARS // 2)
    for part in parts:
        h.update(str(part).encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


_ID = "Stable id from the record's lineage (`make_id`)."
_SEED_ID = "Id of the seed this record descends from."
_META = ("How it was made: the shots shown (`shots`, `shot_group`), the sample index, the "
         "engine's `finish_reason`, the `raw` completion, prompt and completion token counts.")
_INPUT = "Added by the store when the input that made this record has another id."


class Seed(TypedDict):
    """A seed function mined from a corpus: the seeds stage's output."""

    id: Annotated[str, _ID]
    parent: Annotated[str, "Id of the corpus file (or row) it was found in."]
    name: Annotated[str, "The function's name."]
    qualname: Annotated[str, "Its qualified name in the file (`Class.method` for methods)."]
    code: Annotated[str, "The seed as the model sees it: the imports it uses, then the "
                         "function's exact source."]
    function: Annotated[str, "The function's exact source slice."]
    docstring: Annotated[str, "Its docstring."]
    imports: Annotated[list[str], "The import lines the function uses (found or inferred)."]
    lines: Annotated[int, "Lines of the function."]
    is_async: Annotated[bool, "Whether it is `async def`."]
    is_method: Annotated[bool, "Whether it is defined in a class."]
    source_hash: Annotated[str, "MD5 of the normalised source (exact dedup key)."]
    source: Annotated[dict[str, Any], "Where it came from: `origin` (corpus), `repo`, `path`, "
                                      "`license`, `lineno`."]
    input_id: NotRequired[Annotated[str, _INPUT]]


class Concept(TypedDict):
    """The concepts of one seed (S->C): the concepts stage's output."""

    id: Annotated[str, _ID]
    parent: Annotated[str, "Id of the seed."]
    seed: Annotated[str, "The seed's code, carried along for the next prompts and the report."]
    concepts: Annotated[str, "The concepts, comma-separated, as the model listed them."]
    seed_id: Annotated[str, _SEED_ID]
    meta: Annotated[dict[str, Any], _META]
    input_id: NotRequired[Annotated[str, _INPUT]]


class Instruction(TypedDict):
    """A task written from a concept list (C->I): the instructions stage's output."""

    id: Annotated[str, _ID]
    parent: Annotated[str, "Id of the concept record."]
    instruction: Annotated[str, "The task, as the model wrote it."]
    category: Annotated[str, "The task category drawn for it (function, class, program)."]
    difficulty: Annotated[str, "The difficulty drawn for it (easy, medium, hard)."]
    language: Annotated[str, "The programming language named in the prompt."]
    concepts: Annotated[str, "The concepts it was written from."]
    seed: Annotated[str, "The seed's code."]
    seed_id: Annotated[str, _SEED_ID]
    meta: Annotated[dict[str, Any], _META]
    input_id: NotRequired[Annotated[str, _INPUT]]


class Response(TypedDict):
    """One sampled answer to an instruction, with its own tests (I->R): the responses stage's
    output (n per instruction)."""

    id: Annotated[str, _ID]
    parent: Annotated[str, "Id of the instruction (the key selection groups by)."]
    instruction: Annotated[str, "The task."]
    category: Annotated[str | None, "The task's category (None if its input had none)."]
    difficulty: Annotated[str | None, "The task's difficulty (None if its input had none)."]
    concepts: Annotated[str | None, "The concepts behind the task."]
    seed: Annotated[str | None, "The seed's code."]
    seed_id: Annotated[str | None, _SEED_ID]
    response: Annotated[str, "The answer: reasoning and a fenced Python implementation."]
    tests: Annotated[str, "The model's own tests for it, fenced Python."]
    meta: Annotated[dict[str, Any], _META]
    input_id: NotRequired[Annotated[str, _INPUT]]


_STATUS = Annotated[str, "The verdict: passed, failed, timeout, error, no_tests_run, ... "
                         "(docs/sandbox.md)."]
_PASSED = Annotated[bool, "Whether the tests genuinely ran and passed."]
_EXECUTION = Annotated[dict[str, Any], "The sandbox's account: `status`, `duration_s`, "
                                       "`asserts`, `tests_run`, `mode`, `detail`, `output`, "
                                       "`findings`, `cached`, `program_hash`, `harness`."]


class _Carried(TypedDict):
    """Fields a response record carries from upstream into execute and select (present when
    it came from the responses stage; a user's own file may lack them)."""

    id: Annotated[str, _ID]
    parent: NotRequired[Annotated[str, "Id of the instruction."]]
    category: NotRequired[Annotated[str | None, "The task's category."]]
    difficulty: NotRequired[Annotated[str | None, "The task's difficulty."]]
    concepts: NotRequired[Annotated[str | None, "The concepts behind the task."]]
    seed: NotRequired[Annotated[str | None, "The seed's code."]]
    seed_id: NotRequired[Annotated[str | None, _SEED_ID]]
    response: Annotated[str, "The answer that ran."]
    tests: Annotated[str, "The tests that ran against it."]
    meta: NotRequired[Annotated[dict[str, Any], _META]]
    status: _STATUS
    passed: _PASSED
    execution: _EXECUTION
    input_id: NotRequired[Annotated[str, _INPUT]]


class Executed(_Carried):
    """A response after its tests ran in the sandbox: the execute stage's output. Every input
    is kept with its verdict in `status`; the input's other fields are carried as they were."""

    instruction: NotRequired[Annotated[str | None, "The task."]]


class Selected(_Carried):
    """The one passing response chosen for an instruction: the select stage's output (the
    executed record, plus why it was trusted and its chat form)."""

    instruction: Annotated[str, "The task (augmented with examples when so chosen)."]
    signals: Annotated[dict[str, Any], "Why it was trusted: `asserts_executed`, "
                                       "`passing_samples`, `samples`, `cross_pass`, "
                                       "`cross_tried`, `tests_pass_on_stub`."]
    augmented_asserts: Annotated[int, "Asserts added to the instruction as examples "
                                      "(test augmentation; 0 when none)."]
    messages: Annotated[list[dict[str, str]], "The chat form: user instruction, assistant "
                                               "response."]
    original_instruction: NotRequired[Annotated[str, "The instruction before augmentation."]]


class DatasetRow(TypedDict):
    """A row of the exported SFT dataset (`dataset/data.jsonl`, Parquet, HF dataset)."""

    id: Annotated[str, "The selected response's id."]
    instruction: Annotated[str, "The task the model is trained on (augmented if so)."]
    response: Annotated[str, "The answer it is trained to give."]
    messages: Annotated[list[dict[str, str]], "The same pair in chat form."]
    tests: Annotated[str, "The tests the response passed."]
    instruction_id: Annotated[str, "Id of the instruction."]
    seed_id: Annotated[str | None, _SEED_ID]
    seed: Annotated[str | None, "The seed's code."]
    seed_source: Annotated[dict[str, Any] | None, "Where the seed came from (origin, repo, "
                                                  "path, license)."]
    concepts: Annotated[str | None, "The concepts behind the task."]
    category: Annotated[str | None, "Task category."]
    difficulty: Annotated[str | None, "Task difficulty."]
    status: Annotated[str, "The execution verdict (always passed)."]
    passed: Annotated[bool, "True."]
    asserts_executed: Annotated[int, "Asserts that ran in the sandbox."]
    passing_samples: Annotated[int, "Responses of the instruction that passed."]
    samples: Annotated[int, "Responses sampled for the instruction."]
    cross_pass: Annotated[int, "Other passing responses that also pass these tests."]
    cross_tried: Annotated[int, "Other passing responses tried against these tests."]
    augmented_asserts: Annotated[int, "Asserts added to the instruction as examples."]


# Which record type each stage writes, by stage name (the registry's names).
STAGE_RECORDS: dict[str, type] = {
    "seeds": Seed, "concepts": Concept, "instructions": Instruction, "responses": Response,
    "execute": Executed, "select": Selected,
}


# --- checks at the boundary ---------------------------------------------------------------

def _runtime_types(annotation: Any) -> tuple[type, ...]:
    """The classes an annotation accepts at run time (`str | None` -> (str, NoneType))."""
    origin: Any = typing.get_origin(annotation)
    if origin is Annotated:
        annotation = typing.get_args(annotation)[0]
        origin = typing.get_origin(annotation)
    if origin is NotRequired:
        return _runtime_types(typing.get_args(annotation)[0])
    if origin in (types.UnionType, typing.Union):
        return tuple(t for arg in typing.get_args(annotation) for t in _runtime_types(arg))
    if annotation is None or annotation is type(None):
        return (type(None),)
    if annotation is Any:
        return (object,)
    if annotation is float:
        return (float, int)
    return (origin if isinstance(origin, type) else annotation,)


def fields(record_type: type) -> dict[str, tuple[tuple[type, ...], bool, str]]:
    """name -> (accepted classes, required, description) of a record TypedDict."""
    hints = typing_extensions.get_type_hints(record_type, include_extras=True)
    required: frozenset[str] = getattr(record_type, "__required_keys__", frozenset())
    out = {}
    for name, annotation in hints.items():
        inner: Any = annotation
        origin: Any = typing.get_origin(inner)
        if origin is NotRequired:
            inner = typing.get_args(inner)[0]
            origin = typing.get_origin(inner)
        doc = str(typing.get_args(inner)[1]) if origin is Annotated else ""
        out[name] = (_runtime_types(annotation), name in required, doc)
    return out


_FIELDS: dict[type, dict[str, tuple[tuple[type, ...], bool, str]]] = {}


def _cached(record_type: type) -> dict[str, tuple[tuple[type, ...], bool, str]]:
    found = _FIELDS.get(record_type)
    if found is None:
        found = _FIELDS[record_type] = fields(record_type)
    return found


def problem(record: Mapping[str, Any], record_type: type,
            needs: Iterable[str] | None = None) -> str | None:
    """None when `record` has the `needs` fields of `record_type` (all its required fields by
    default) with the right types; else `missing_<field>` or `bad_<field>` for the first
    that does not fit. For named `needs` (what a stage reads), an empty text counts as
    missing; a whole-type check (what a stage wrote) accepts empty texts."""
    spec = _cached(record_type)
    names = [n for n, (_, req, _) in spec.items() if req] if needs is None else needs
    strict = needs is not None
    for name in names:
        accepted = spec[name][0]
        value = record.get(name)
        if value is None and type(None) not in accepted:
            return f"missing_{name}"
        if strict and accepted == (str,) and isinstance(value, str) and not value.strip():
            return f"missing_{name}"
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted
                                               and int in accepted and object not in accepted):
            return f"bad_{name}"
    return None


def reference_markdown() -> str:
    """`docs/records.md`: every record type and its fields, from the TypedDicts."""
    lines = ["# Records", "",
             "Generated by `selfcodealign records reference`; do not edit by hand.",
             "Every stage writes JSON Lines; each line is one record of the type below. A "
             "stage's rejects (`rejects-*.jsonl`) hold the input record as it was plus "
             "`reason` (snake_case) and, where there is one, `detail`.", ""]
    by_type = {t: s for s, t in STAGE_RECORDS.items()}
    for record_type in (*STAGE_RECORDS.values(), DatasetRow):
        stage = by_type.get(record_type)
        title = f"`{record_type.__name__}`" + (f" (stage `{stage}`)" if stage else "")
        lines += [f"## {title}", "", (record_type.__doc__ or "").strip().replace("\n", " "),
                  "", "| field | type | required | description |", "|---|---|---|---|"]
        for name, (accepted, required, doc) in fields(record_type).items():
            kind = " \\| ".join("null" if t is type(None) else
                                "any" if t is object else t.__name__ for t in accepted)
            lines.append(f"| `{name}` | {kind} | {'yes' if required else 'no'} | {doc} |")
        lines.append("")
    return "\n".join(lines)
