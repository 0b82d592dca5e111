"""Entry point for the plain CLI: `pulumi up -s prod-platform` runs the layer the stack names."""

import pulumi

from sprocket_common.stack_info import StackInfo, load_program

load_program(StackInfo.parse(pulumi.get_stack()).layer)()
