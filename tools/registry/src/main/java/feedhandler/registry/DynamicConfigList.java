package feedhandler.registry;

import io.apicurio.common.apps.config.DynamicConfigPropertyList;
import java.util.List;
import javax.enterprise.context.ApplicationScoped;
import javax.enterprise.inject.Produces;

/**
 * The list of properties that may be changed at run time, which Apicurio's config-index build
 * step would generate (that step is not served; see tools/registry/pom.xml): empty, so every
 * setting comes from the command line, as scripts/registry-local gives it.
 */
@ApplicationScoped
public class DynamicConfigList {
    @Produces
    @ApplicationScoped
    DynamicConfigPropertyList list() {
        return new DynamicConfigPropertyList(List.of());
    }
}
