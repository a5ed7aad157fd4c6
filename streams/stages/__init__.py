"""The stages' logic, free of faust and aiokafka: what a batch of one partition decides.

A stage takes records (or, fused behind the sequencer, the events it released), reads state through a
:class:`~streams.stages.batch.StateView` and writes everything it decides into a
:class:`~streams.stages.batch.Batch`: records to send, records to park in the DLQ, table values to write.
The data plane (:mod:`streams.dataplane`) sends a batch in one transaction and only then tells the stages it
was committed. Tested without a broker in ``tests/unit/streams/stages``.
"""

from streams.stages.batch import Batch, DeadLetterRequest, Output, StateView
from streams.stages.loyalty import LoyaltyStage
from streams.stages.pipeline import Pipeline
from streams.stages.router import RouterStage
from streams.stages.sequencer import SequencerStage

__all__ = [
    "Batch",
    "DeadLetterRequest",
    "LoyaltyStage",
    "Output",
    "Pipeline",
    "RouterStage",
    "SequencerStage",
    "StateView",
]
