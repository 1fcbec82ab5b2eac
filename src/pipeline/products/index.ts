export { Changeover, productOf, type ProductOrigin, type RunningProduct } from './changeover.js';
export { PromptCache, preparePrompt, promptServer, type PreparePrompt } from './prompt-cache.js';
export { readRecipes, type Recipe, type Recipes } from './recipes.js';
export { productConfigSchema, productNameSchema, productsSchema, type ProductConfig, type ProductsConfig } from './schema.js';
