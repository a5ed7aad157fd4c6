"""Pure domain logic shared by the streams and the consumers.

Nothing in this package imports faust, aiokafka or boto3: it is tested without a broker.
"""
