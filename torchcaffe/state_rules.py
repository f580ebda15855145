"""Which layers a net keeps for a given phase, level and stages (Caffe's NetStateRule)."""
from .errors import CaffeError


def meets_rule(state, rule):
    if rule.HasField('phase') and rule.phase != state.phase:
        return False
    if rule.HasField('min_level') and state.level < rule.min_level:
        return False
    if rule.HasField('max_level') and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    if any(s not in stages for s in rule.stage):
        return False
    return not any(s in stages for s in rule.not_stage)


def layer_included(layer, state):
    """Caffe's FilterNet test for one layer."""
    if len(layer.include) and len(layer.exclude):
        raise CaffeError('layer %r specifies both include and exclude rules; use one' % layer.name)
    if len(layer.include):
        return any(meets_rule(state, r) for r in layer.include)
    return not any(meets_rule(state, r) for r in layer.exclude)
