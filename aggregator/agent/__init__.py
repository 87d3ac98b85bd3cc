"""The member agent: watches propagated objects in a member cluster and reports their status."""
