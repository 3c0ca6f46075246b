"""Publish activities through Stream-Framework's manager: ``python drive.py AUTHOR COUNT FIRST``.

Imports everything, prints ``ready``, waits for one line on stdin, then adds ``COUNT``
activities by ``AUTHOR`` (objects ``FIRST`` onwards) with ``manager.add_user_activity``, which
stores each one and queues its fan-out tasks; prints the activities' serialization ids (the
members their feeds hold) as one JSON line and exits.
"""

from __future__ import annotations

import datetime
import json
import sys

from sfapp import Tweet, manager
from stream_framework.activity import Activity


def main() -> None:
    author, count, first = (int(x) for x in sys.argv[1:4])
    print("ready", flush=True)
    sys.stdin.readline()
    sent = []
    for n in range(first, first + count):
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        activity = Activity(author, Tweet, n, time=now)
        manager.add_user_activity(author, activity)
        sent.append(str(activity.serialization_id))
    print(json.dumps(sent), flush=True)


if __name__ == "__main__":
    main()
