"""orderstream in containers: a Docker engine for the tests, the images they run, the Kafka container.

- :mod:`~orderstream.containers.engine` finds the engine that answers (``DOCKER_HOST``, the default socket)
  or, as root with apt, installs Debian's ``docker.io`` and runs a private engine under ``.local/docker``;
- :mod:`~orderstream.containers.images` builds the images (a local base where nothing can be pulled, the
  Kafka image from the project's Maven jars, the service and moto images from the ``Dockerfile``), each
  tagged with a hash of its inputs so an unchanged image is never rebuilt;
- :mod:`~orderstream.containers.kafka` runs the broker image configured like the local broker.

``python -m orderstream.containers engine up|down|status`` and ``images`` drive it (``make docker-up``).
"""
