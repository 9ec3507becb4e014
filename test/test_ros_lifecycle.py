"""The nodes as managed (lifecycle) nodes, driven through every transition over the standard
lifecycle_msgs services, as a lifecycle manager (nav2's, a launch file's) would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from k2m_ros.harness import Harness, NodeProcess, diagnostic_values, image_msg, stamps

pytestmark = pytest.mark.ros

FRAME = "lifecycle_camera"
UNCONFIGURED, INACTIVE, ACTIVE, FINALIZED = 1, 2, 3, 4  # lifecycle_msgs/State ids
CONFIGURE, CLEANUP, ACTIVATE, DEACTIVATE, ACTIVE_SHUTDOWN = 1, 2, 3, 4, 7  # Transition ids


def _standing_person_coco18() -> np.ndarray:
    """(18, 3) pixel keypoints of a person standing 2 m in front of a 640x480 camera."""
    uv = [
        (320, 120), (320, 150), (290, 152), (280, 200), (278, 245), (350, 152), (360, 200),
        (362, 245), (300, 250), (300, 320), (300, 390), (340, 250), (340, 320), (340, 390),
        (315, 112), (325, 112), (308, 118), (332, 118),
    ]  # fmt: skip
    return np.column_stack([np.asarray(uv, np.float32), np.ones(18, np.float32)])


class Manager:
    """The lifecycle services of one node, and what it does in each state."""

    def __init__(self, harness: Harness, name: str) -> None:
        from lifecycle_msgs.srv import ChangeState, GetState
        from rcl_interfaces.srv import SetParameters

        self.harness, self.name = harness, name
        node = harness.node
        self.get = node.create_client(GetState, f"/{name}/get_state")
        self.change = node.create_client(ChangeState, f"/{name}/change_state")
        self.set_parameters = node.create_client(SetParameters, f"/{name}/set_parameters")
        for client in (self.get, self.change, self.set_parameters):
            harness.wait_for(client.service_is_ready, 90.0, f"{client.srv_name}")

    def _call(self, client: Any, request: Any) -> Any:
        future = client.call_async(request)
        self.harness.wait_for(future.done, 90.0, f"a reply from {client.srv_name}")
        return future.result()

    def state(self) -> int:
        from lifecycle_msgs.srv import GetState

        return self._call(self.get, GetState.Request()).current_state.id

    def transition(self, transition_id: int) -> bool:
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.id = transition_id
        return self._call(self.change, request).success

    def set_int(self, name: str, value: int) -> Any:
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        value_msg = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
        request = SetParameters.Request(parameters=[Parameter(name=name, value=value_msg)])
        return self._call(self.set_parameters, request).results[0]


# node -> (its input topic, the message class name, the output topic to watch)
NODES = {
    "perception_node": ("/lifecycle/image", "Image", "/lifecycle/keypoints"),
    "pose_node": ("/lifecycle/image", "Image", "/lifecycle/keypoints"),
    "mesh_node": ("/lifecycle/keypoints_in", "PersonKeypointsArray", "/k2m/bodies"),
}


@pytest.fixture(params=list(NODES), ids=list(NODES))
def managed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, NodeProcess]]:
    name = request.param
    topic = NODES[name][0]
    parameters: dict[str, Any] = {"autostart": False}
    if name == "mesh_node":
        parameters["keypoints_topic"] = topic
    else:
        parameters.update(image_topic=topic, keypoints_topic="/lifecycle/keypoints")
    node = NodeProcess.start(name, parameters, tmp_path)
    try:
        yield name, node
    finally:
        node.stop()


def _input(kit: Any, kind: str, stamp_ns: int) -> Any:
    from k2m_core.pose.base import Person
    from k2m_ros.builders import make_header, person_keypoints_array

    if kind == "Image":
        return image_msg(kit, np.zeros((48, 64, 3), np.uint8), FRAME, stamp_ns)
    box = np.array([270, 100, 370, 400], np.float32)
    person = Person(_standing_person_coco18(), "coco18", box, 0.9)
    header = make_header(kit, stamp_ns, FRAME)
    return person_keypoints_array(kit, [person], np.array([7], np.uint32), header, (640, 480))


def test_every_transition(managed: tuple[str, NodeProcess], tmp_path: Path) -> None:
    from k2m_ros.message_kit import rclpy_kit

    name, process = managed
    topic, kind, output = NODES[name]
    kit = rclpy_kit()
    harness = Harness.open(f"k2m_test_manager_{name}")
    try:
        received = harness.record(getattr(kit, "SmplBodyArray" if name == "mesh_node"
                                          else "PersonKeypointsArray"), output)  # fmt: skip
        diagnostics = harness.record(kit.DiagnosticArray, "/diagnostics")
        manager = Manager(harness, name)
        camera = harness.publisher(getattr(kit, kind), topic, matched=False)
        node_subscribed: Callable[[], bool] = lambda: harness.node.count_subscribers(topic) > 0  # noqa: E731

        def sends_output(stamp_ns: int) -> None:
            msg = _input(kit, kind, stamp_ns)
            harness.request(lambda: camera.publish(msg), lambda: stamp_ns in stamps(received),
                            60.0, f"{name}'s output for {stamp_ns}")  # fmt: skip

        assert manager.state() == UNCONFIGURED and not node_subscribed()
        assert manager.set_int("image_qos_depth", 2).successful  # free to change before configure

        assert manager.transition(CONFIGURE) and manager.state() == INACTIVE
        harness.spin(1.5)
        assert not node_subscribed()
        reports = diagnostic_values(diagnostics, name)
        assert reports and reports[-1]["_message"].startswith("inactive"), reports[-1:]
        refused = manager.set_int("image_qos_depth", 3)
        assert not refused.successful and "at configure" in refused.reason

        assert manager.transition(ACTIVATE) and manager.state() == ACTIVE
        harness.wait_for(node_subscribed, 10.0, f"{name} to subscribe to {topic}")
        sends_output(10)

        assert manager.transition(DEACTIVATE) and manager.state() == INACTIVE
        harness.wait_for(lambda: not node_subscribed(), 10.0, f"{name} to unsubscribe")
        camera.publish(_input(kit, kind, 20))
        harness.spin(1.5)
        assert 20 not in stamps(received)

        assert manager.transition(CLEANUP) and manager.state() == UNCONFIGURED
        assert manager.set_int("image_qos_depth", 1).successful
        assert manager.transition(CONFIGURE) and manager.transition(ACTIVATE)
        harness.wait_for(node_subscribed, 10.0, f"{name} to subscribe again")
        sends_output(30)

        assert manager.transition(ACTIVE_SHUTDOWN) and manager.state() == FINALIZED
        harness.wait_for(lambda: not node_subscribed(), 10.0, f"{name} to unsubscribe at shutdown")
        assert process.interrupt() == 0, process.output()[-2000:]
        assert "Traceback" not in process.output()
    finally:
        harness.close()
