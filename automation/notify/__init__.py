"""The driver's own failures, sent to the ops channels: one signed webhook per operation.

`notify_result` is called once per verb by `verb.run_verb`; `policy.should_notify` says which
results are worth a message; `sender.deliver` signs, deduplicates and retries.
"""

from automation.notify.sender import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    DeliveryError,
    deliver,
    sign,
)
from automation.notify.service import notify_result, operation_id

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "DeliveryError",
    "deliver",
    "notify_result",
    "operation_id",
    "sign",
]
