"""Walking the chain and recomputing every link."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from audit.chain import HASHED_FIELDS, compute_hash, hashes_equal
from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent


class BreakKind(StrEnum):
    HASH_MISMATCH = "hash mismatch"
    PREV_HASH_MISMATCH = "prev_hash mismatch"
    SEQ_GAP = "gap in seq"
    HEAD_MISMATCH = "chain head mismatch"


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    event_id: int | None
    kind: BreakKind
    detail: str

    def __str__(self) -> str:
        event = f"event seq={self.seq} id={self.event_id if self.event_id is not None else '-'}"
        return f"{event}: {self.kind} ({self.detail})"


@dataclass(frozen=True)
class ChainReport:
    verified: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


_COLUMNS = ("id", "hash", *HASHED_FIELDS)


def _check_row(row: dict, *, expected_seq: int, prev_hash: str) -> ChainBreak | None:
    seq, event_id = row["seq"], row["id"]
    if seq != expected_seq:
        return ChainBreak(seq, event_id, BreakKind.SEQ_GAP, f"expected seq {expected_seq}")
    if not hashes_equal(compute_hash(row), row["hash"]):
        return ChainBreak(seq, event_id, BreakKind.HASH_MISMATCH, "the stored hash does not match the event")
    if not hashes_equal(row["prev_hash"], prev_hash):
        return ChainBreak(seq, event_id, BreakKind.PREV_HASH_MISMATCH, "it does not point at the event before it")
    return None


def audit_chain_verify(*, batch_size: int = 1000) -> ChainReport:
    """Recompute every HMAC in seq order, in batches (constant memory); stop at the first break.

    Also compares the end of the chain with AuditChainHead, which catches rows cut off the end
    or forged past it. Events appended while the walk runs are verified too.
    """
    expected_seq, prev_hash, verified = 1, GENESIS_HASH, 0
    last_id: int | None = None
    while True:
        # Keyset pages instead of one long cursor: no server-side cursor held open for the
        # length of the walk, and each page is a cheap index range scan on seq.
        batch = list(AuditEvent.objects.filter(seq__gt=expected_seq - 1).order_by("seq").values(*_COLUMNS)[:batch_size])
        if not batch:
            # The head commits in the same transaction as its event, and only grows: read it
            # first, then look once more for rows, and anything the head promises must be there.
            head = AuditChainHead.objects.filter(pk=1).values("last_seq", "last_hash").first()
            if AuditEvent.objects.filter(seq__gte=expected_seq).exists():
                continue
            break
        for row in batch:
            found = _check_row(row, expected_seq=expected_seq, prev_hash=prev_hash)
            if found is not None:
                return ChainReport(verified, found)
            expected_seq, prev_hash, last_id = row["seq"] + 1, row["hash"], row["id"]
            verified += 1

    last_seq = expected_seq - 1
    head_seq, head_hash = (head["last_seq"], head["last_hash"]) if head else (0, GENESIS_HASH)
    if head_seq > last_seq:
        return ChainReport(
            verified,
            ChainBreak(last_seq + 1, None, BreakKind.SEQ_GAP, f"missing; the chain head says it ends at {head_seq}"),
        )
    if head_seq < last_seq:
        beyond = AuditEvent.objects.filter(seq=head_seq + 1).values_list("id", flat=True).first()
        return ChainReport(
            verified,
            ChainBreak(head_seq + 1, beyond, BreakKind.HEAD_MISMATCH, f"beyond the chain head at {head_seq}"),
        )
    if not hashes_equal(head_hash, prev_hash):
        return ChainReport(
            verified, ChainBreak(last_seq, last_id, BreakKind.HEAD_MISMATCH, "the chain head holds another hash")
        )
    return ChainReport(verified, None)
