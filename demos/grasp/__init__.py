"""ROS-style grasp detection without a ROS installation.

- :mod:`demos.grasp.messages`: ROS 2 message types (rosbags typestore + vision_msgs definitions), numpy conversions;
- :mod:`demos.grasp.bag`: rosbag2 (sqlite3/MCAP) input with topic validation and RGB-D sync, bag writer;
- :mod:`demos.grasp.frames`: the synchronised :class:`~demos.grasp.frames.Frame`, image-folder input, intrinsics;
- :mod:`demos.grasp.geometry`: suction and parallel-jaw grasps as 6-DoF camera-frame poses;
- :mod:`demos.grasp.node`: the node (segment -> identify -> grasp -> publish);
- :mod:`demos.grasp.scene`: synthetic RGB-D tote bags with ground truth; :mod:`demos.grasp.evaluate` scores them;
- :mod:`demos.grasp.run`: ``edgevision demo grasp`` end to end; :mod:`demos.grasp.quickstart`: the quickstart step.
"""
