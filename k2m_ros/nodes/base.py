"""What the three k2m nodes share: a managed (lifecycle) node with described parameters.

- construction declares the parameters (``ros2 param describe`` shows what each does);
- configure checks them and loads the models, creates the publishers and /diagnostics;
- activate subscribes (and the lifecycle publishers start sending);
- deactivate unsubscribes; cleanup frees the models; shutdown does both.

With ``autostart`` (the default) :func:`run` configures and activates at once, for users who do
not manage lifecycles; a failure there is one log line and exit code 1.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping, Sequence
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from k2m_ros.diagnostics import StageStats
from k2m_ros.parameters import PARAMETERS, check_parameters, describe_qos

SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE


def declare_parameters(node: LifecycleNode, names: Sequence[str]) -> dict[str, Any]:
    """Declare ``names`` on the node, described; their values (not yet checked)."""
    values = {}
    for name in names:
        default, description = PARAMETERS[name]
        descriptor = ParameterDescriptor(description=description)
        values[name] = node.declare_parameter(name, default, descriptor).value
    return values


class K2mNode(LifecycleNode):
    """Subclasses set NODE_NAME and PARAMETERS and fill in :meth:`load`, :meth:`subscribe` and
    :meth:`unload`; callbacks stay thin (one ROS-free call per message)."""

    NODE_NAME = "k2m_node"
    PARAMETERS: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__(self.NODE_NAME)
        self.values = declare_parameters(self, self.PARAMETERS)
        self.configured = False
        self.stats = StageStats("")
        self._subscriptions: list[Any] = []
        self._owned: list[Any] = []  # outputs with a destroy(), freed at cleanup
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # --- what a node does ----------------------------------------------------------------

    def load(self, values: Mapping[str, Any]) -> None:
        """Models, publishers, diagnostics (configure)."""

    def subscribe(self) -> list[Any]:
        """The input subscriptions (activate)."""
        return []

    def unload(self) -> None:
        """Drop the models (cleanup); the outputs registered with :meth:`own` go by themselves."""

    # --- lifecycle -----------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            names = self.PARAMETERS
            self.values = check_parameters({n: self.get_parameter(n).value for n in names})
            self.load(self.values)
        except Exception as err:  # a bad parameter or missing model: one clear line
            self.get_logger().fatal(f"cannot configure: {type(err).__name__}: {err}")
            self._free()
            return FAILURE
        self.configured = True
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._subscriptions = self.subscribe()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._free()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._free()
        return super().on_shutdown(state)

    @property
    def active(self) -> bool:
        return bool(self._subscriptions)

    def _unsubscribe(self) -> None:
        for subscription in self._subscriptions:
            self.destroy_subscription(subscription)
        self._subscriptions = []

    def _free(self) -> None:
        for output in reversed(self._owned):
            output.destroy()
        self._owned = []
        self.unload()
        self.configured = False
        gc.collect()  # models hold hundreds of MB: give them back now, not at some later GC

    def _on_set_parameters(self, parameters: list[Any]) -> SetParametersResult:
        if not self.configured:
            return SetParametersResult(successful=True)
        names = ", ".join(p.name for p in parameters)
        return SetParametersResult(
            successful=False,
            reason=f"{names}: k2m reads its parameters at configure; deactivate and clean up "
            "the node, set them, then configure again",
        )

    # --- helpers for the subclasses --------------------------------------------------------

    def own(self, output: Any) -> Any:
        """Register an output (publisher wrapper with destroy()) to be freed at cleanup."""
        self._owned.append(output)
        return output

    def log_inputs(self, topics: Sequence[str]) -> None:
        v = self.values
        qos = describe_qos(v["image_qos_reliability"], int(v["image_qos_depth"]))
        self.get_logger().info(f"subscribing to {', '.join(topics)} with QoS {qos}")

    def drop_frame(self, what: str, err: Exception) -> None:
        """One bad frame is logged (throttled) and counted in /diagnostics; the node goes on."""
        text = f"{type(err).__name__}: {err}"
        self.stats.failed(text)
        self.get_logger().error(f"{what}: {text}", throttle_duration_sec=5.0)


def run(node_class: type[K2mNode], args: Sequence[str] | None = None) -> int:
    """rclpy.init, the node (configured and activated when autostart), spin until Ctrl-C or
    shutdown; exit code 0, or 1 with one log line when the node cannot start."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.logging import get_logger

    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        started = not node.values["autostart"] or (
            node.trigger_configure() == SUCCESS and node.trigger_activate() == SUCCESS
        )
        if not started:
            return 1  # on_configure logged why
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as err:  # e.g. a parameter of the wrong type: one clear line, exit 1
        get_logger(node_class.NODE_NAME).fatal(f"{type(err).__name__}: {err}")
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
